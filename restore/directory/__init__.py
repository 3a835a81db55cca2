"""Tier 0: the Active Directory of a domain controller, read and repaired over LDAPS.

Every recovery guide starts with the directory: find what the attacker changed in it,
rotate krbtgt twice, and only then trust anything that authenticates against it.

    model.py       entries as plain data; AD value formats (SID, FILETIME, generalized time)
    connection.py  LDAPS with the certificate verified against the inventory's CA
    fetch.py       one paged read of the accounts and groups the checks look at
    paging.py      searches on the bound connection's socket: pages pipelined, caps, deadline
    ber.py         the search's messages: requests built by ldap3, answers decoded by hand
    privileged.py  privileged groups, nested membership resolved (pure)
    analysis.py    the checks as pure functions over fetched entries -> findings
    krbtgt.py      krbtgt's state, the rotation rule, and the rotation itself
    checks.py      glue: a domain controller's directory findings for `restore check`
"""
