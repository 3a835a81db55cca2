-- Laboratory results table as dumped by the nightly backup (synthetic, no patient data).
CREATE TABLE IF NOT EXISTS lab_results (
    id integer PRIMARY KEY,
    sample_id text NOT NULL,
    analyte text NOT NULL,
    value numeric NOT NULL,
    unit text NOT NULL
);
INSERT INTO lab_results (id, sample_id, analyte, value, unit)
SELECT i, 'S' || lpad(i::text, 6, '0'),
       (ARRAY['glucose', 'potassium', 'sodium', 'creatinine'])[1 + i % 4],
       round((i % 97)::numeric / 7, 2),
       (ARRAY['mmol/L', 'mmol/L', 'mmol/L', 'umol/L'])[1 + i % 4]
FROM generate_series(1, 1000) AS i
ON CONFLICT (id) DO NOTHING;
