-- An operator may suspend a tenant: its requests and logins are refused
-- (403 tenant_suspended) while its data stays where it is. Suspension is
-- kept apart from `state` (the lifecycle: provisioning, active), so moves,
-- routing and onboarding keep their meaning of `state`, and a suspended
-- tenant can still be moved.
ALTER TABLE tenants ADD COLUMN suspended boolean NOT NULL DEFAULT false;
