{header}
-- Timestamps are microseconds since the Unix epoch, UTC (BIGINT), so that both backends
-- compare and bucket them with the same SQL.

CREATE TABLE users (
    user_id          {id},
    name             VARCHAR(50)  NOT NULL,
    email            VARCHAR(100) NOT NULL,
    hashed_password  VARCHAR(256),
    birth            VARCHAR(10),
    register_date    BIGINT       NOT NULL,
    status           INTEGER      NOT NULL DEFAULT 0,
    is_superuser     BOOLEAN      NOT NULL DEFAULT FALSE,
    sub              VARCHAR(255)
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_sub_key ON users (sub);
CREATE INDEX users_name_idx ON users (name);
CREATE INDEX users_register_date_idx ON users (register_date);

CREATE TABLE tags (
    name VARCHAR(30) PRIMARY KEY
);

CREATE TABLE worlds (
    world_id       {id},
    creator        {id_ref} REFERENCES users (user_id) ON DELETE SET NULL,
    name           VARCHAR(50)  NOT NULL,
    -- Unicode-lowercased name (computed by the server; SQLite's lower() folds ASCII only).
    name_key       VARCHAR(50)  NOT NULL,
    -- Unicode-lowercased name and description, for substring search.
    search_text    TEXT         NOT NULL,
    creation_date  BIGINT       NOT NULL,
    update_date    BIGINT,
    description    VARCHAR(300),
    max_users      INTEGER,
    public         BOOLEAN      NOT NULL,
    allow_guests   BOOLEAN      NOT NULL,
    world_map      TEXT         NOT NULL,
    profile_image  TEXT,
    status         INTEGER      NOT NULL DEFAULT 0
);
-- A name is unique among worlds that are not deleted (status 2).
CREATE UNIQUE INDEX worlds_live_name_key ON worlds (name_key) WHERE status <> 2;
CREATE INDEX worlds_creator_idx ON worlds (creator);
CREATE INDEX worlds_creation_date_idx ON worlds (creation_date);

CREATE TABLE world_tags (
    world_id  {id_ref}     NOT NULL REFERENCES worlds (world_id) ON DELETE CASCADE,
    tag_name  VARCHAR(30) NOT NULL REFERENCES tags (name) ON DELETE CASCADE,
    PRIMARY KEY (world_id, tag_name)
);
CREATE INDEX world_tags_tag_idx ON world_tags (tag_name);

CREATE TABLE roles (
    role_id            {id},
    world_id           {id_ref}     NOT NULL REFERENCES worlds (world_id) ON DELETE CASCADE,
    name               VARCHAR(50) NOT NULL,
    is_default         BOOLEAN NOT NULL DEFAULT FALSE,
    interact           BOOLEAN NOT NULL DEFAULT FALSE,
    walk               BOOLEAN NOT NULL DEFAULT FALSE,
    talk               BOOLEAN NOT NULL DEFAULT FALSE,
    talk_conference    BOOLEAN NOT NULL DEFAULT FALSE,
    world_mute         BOOLEAN NOT NULL DEFAULT FALSE,
    role_manage        BOOLEAN NOT NULL DEFAULT FALSE,
    conference_manage  BOOLEAN NOT NULL DEFAULT FALSE,
    chat               BOOLEAN NOT NULL DEFAULT FALSE,
    invite             BOOLEAN NOT NULL DEFAULT FALSE,
    ban                BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (world_id, name)
);
-- At most one default role per world.
CREATE UNIQUE INDEX roles_one_default_key ON roles (world_id) WHERE is_default;

CREATE TABLE world_users (
    user_id    {id_ref} NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    world_id   {id_ref} NOT NULL REFERENCES worlds (world_id) ON DELETE CASCADE,
    role_id    {id_ref} NOT NULL REFERENCES roles (role_id),
    avatar     VARCHAR(50),
    join_date  BIGINT  NOT NULL,
    n_joins    INTEGER NOT NULL DEFAULT 1,
    last_join  BIGINT  NOT NULL,
    status     INTEGER NOT NULL DEFAULT 0,
    username   VARCHAR(50),
    last_x     DOUBLE PRECISION,
    last_y     DOUBLE PRECISION,
    PRIMARY KEY (user_id, world_id)
);
CREATE INDEX world_users_world_idx ON world_users (world_id);
CREATE INDEX world_users_role_idx ON world_users (role_id);

-- Guests have no account; their per-world profile lives here until it expires.
CREATE TABLE world_guests (
    guest_id    VARCHAR(36) NOT NULL,
    world_id    {id_ref}     NOT NULL REFERENCES worlds (world_id) ON DELETE CASCADE,
    role_id     {id_ref}     NOT NULL REFERENCES roles (role_id),
    avatar      VARCHAR(50),
    username    VARCHAR(50),
    status      INTEGER     NOT NULL DEFAULT 0,
    last_x      DOUBLE PRECISION,
    last_y      DOUBLE PRECISION,
    expires_at  BIGINT      NOT NULL,
    PRIMARY KEY (world_id, guest_id)
);
CREATE INDEX world_guests_expiry_idx ON world_guests (expires_at);
CREATE INDEX world_guests_role_idx ON world_guests (role_id);

CREATE TABLE events (
    event_id    {id},
    world_id    {id_ref}     NOT NULL REFERENCES worlds (world_id) ON DELETE CASCADE,
    user_id     {id_ref}     NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    event_type  VARCHAR(50) NOT NULL,
    timestamp   BIGINT      NOT NULL
);
CREATE INDEX events_world_time_idx ON events (world_id, timestamp);
CREATE INDEX events_time_idx ON events (timestamp);

CREATE TABLE report_users (
    reported   {id_ref} NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    reporter   {id_ref} NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    world_id   {id_ref} NOT NULL REFERENCES worlds (world_id) ON DELETE CASCADE,
    timestamp  BIGINT  NOT NULL,
    comment    VARCHAR(300),
    reviewed   BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (reported, reporter, world_id)
);
CREATE INDEX report_users_world_idx ON report_users (world_id);
CREATE INDEX report_users_reporter_idx ON report_users (reporter);

CREATE TABLE report_worlds (
    reported   {id_ref} NOT NULL REFERENCES worlds (world_id) ON DELETE CASCADE,
    reporter   {id_ref} NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    timestamp  BIGINT  NOT NULL,
    comment    VARCHAR(300),
    reviewed   BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (reported, reporter)
);
CREATE INDEX report_worlds_reporter_idx ON report_worlds (reporter);

INSERT INTO tags (name) VALUES ('Science'), ('Technology'), ('Fun'), ('Office'), ('Education'), ('Social');
