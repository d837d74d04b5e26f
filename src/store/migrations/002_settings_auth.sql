-- Node-wide settings every node must agree on (e.g. the generated JWT
-- signing secret when HERALD_JWT_SECRET is unset), and auth indexes.

CREATE TABLE settings (
  key text PRIMARY KEY,
  value text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- A user's tenants: the same user id registered in several tenants.
CREATE INDEX users_by_id ON users (id);
