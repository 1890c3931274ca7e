-- Who may not enter a world until a time: guests banned from it (members' bans stay on their
-- membership) and anyone just kicked (a cooldown). Expired rows are ignored and purged lazily.
CREATE TABLE world_blocks (
    world_id  BIGINT       NOT NULL,
    subject   VARCHAR(64)  NOT NULL,
    kind      SMALLINT     NOT NULL,
    until     BIGINT       NOT NULL,
    PRIMARY KEY (world_id, subject)
);
CREATE INDEX world_blocks_until_idx ON world_blocks (until);
