-- Planners: a third role, for demand data and coverage suggestions; it manages no station.
ALTER TABLE accounts DROP CONSTRAINT accounts_role_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_role_check
  CHECK (role IN ('admin', 'manager', 'planner'));
