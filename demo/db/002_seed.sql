-- Seed data: exactly 7 users (the Core API health check reports this count).
INSERT INTO users (email, name) VALUES
    ('alice@lifebit.dev',   'Alice Kim'),
    ('bob@lifebit.dev',     'Bob Lee'),
    ('carol@lifebit.dev',   'Carol Park'),
    ('dave@lifebit.dev',    'Dave Choi'),
    ('erin@lifebit.dev',    'Erin Jung'),
    ('frank@lifebit.dev',   'Frank Yoon'),
    ('grace@lifebit.dev',   'Grace Han')
ON CONFLICT (email) DO NOTHING;
