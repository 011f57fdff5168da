-- Disabled accounts: `yizhan user disable` sets the time, `enable` clears it. A disabled
-- account keeps its row (the audit log and resolved reports name it) but logs nobody in, and
-- its sessions are refused. Existing accounts stay enabled (NULL).
ALTER TABLE accounts ADD COLUMN disabled_at TIMESTAMPTZ;
