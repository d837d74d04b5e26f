-- 015: polls (src/domain/kinds/poll.ts). A poll is a message whose data carries `poll`
-- (question, options), written by herald_send like any message; this migration holds what
-- changes after: one vote per user (its option, changeable until closed) and the close by the
-- author. Each change is also an event in the conversation log (poll.voted / poll.closed).
-- Must run on PostgreSQL 15 and on PGlite (PostgreSQL 18).
CREATE TABLE poll_votes (
  tenant_id text NOT NULL,
  message_id text NOT NULL,
  user_id text NOT NULL,
  option integer NOT NULL CHECK (option >= 0),
  voted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, message_id, user_id),
  FOREIGN KEY (tenant_id, message_id) REFERENCES messages (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE poll_closes (
  tenant_id text NOT NULL,
  message_id text NOT NULL,
  closed_by text NOT NULL,
  closed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, message_id),
  FOREIGN KEY (tenant_id, message_id) REFERENCES messages (tenant_id, id) ON DELETE CASCADE
);
