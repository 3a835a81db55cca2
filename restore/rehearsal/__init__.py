"""Rehearsals: the whole plan against lab twins, with an infection mix."""
