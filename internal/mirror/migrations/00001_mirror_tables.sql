-- The mirror's own tables: one row per object (services and events per container), keyed by
-- namespace and name. resource_version is the object's metadata.resourceVersion; every write is
-- guarded by it so an older state never overwrites a newer one.

-- +goose Up
CREATE TABLE package_buckets (
    namespace        text        NOT NULL,
    name             text        NOT NULL,
    uid              text        NOT NULL,
    resource_version bigint      NOT NULL,
    generation       bigint      NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    description      text        NOT NULL,
    package_manager  text        NOT NULL,
    package_count    integer     NOT NULL,
    used_by          integer     NOT NULL,
    ready            boolean     NOT NULL,
    ready_reason     text        NOT NULL,
    packages         jsonb       NOT NULL,
    spec             jsonb       NOT NULL,
    status           jsonb       NOT NULL,
    PRIMARY KEY (namespace, name)
);
CREATE UNIQUE INDEX package_buckets_uid_key ON package_buckets (uid);

CREATE TABLE templates (
    namespace            text        NOT NULL,
    name                 text        NOT NULL,
    uid                  text        NOT NULL,
    resource_version     bigint      NOT NULL,
    generation           bigint      NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    description          text        NOT NULL,
    tags                 text[]      NOT NULL,
    os_template          text        NOT NULL,
    cores                integer,
    memory_mib           integer,
    swap_mib             integer,
    disk_gib             integer,
    storage              text        NOT NULL,
    bridge               text        NOT NULL,
    unprivileged         boolean     NOT NULL,
    nesting              boolean     NOT NULL,
    keyctl               boolean     NOT NULL,
    fuse                 boolean     NOT NULL,
    package_bucket_refs  text[]      NOT NULL,
    package_managers     text[]      NOT NULL,
    package_count        integer     NOT NULL,
    script_count         integer     NOT NULL,
    file_count           integer     NOT NULL,
    used_by              integer     NOT NULL,
    ready                boolean     NOT NULL,
    ready_reason         text        NOT NULL,
    packages             jsonb       NOT NULL,
    spec                 jsonb       NOT NULL,
    status               jsonb       NOT NULL,
    PRIMARY KEY (namespace, name)
);
CREATE UNIQUE INDEX templates_uid_key ON templates (uid);
CREATE INDEX templates_tags_idx ON templates USING gin (tags);

CREATE TABLE containers (
    namespace        text        NOT NULL,
    name             text        NOT NULL,
    uid              text        NOT NULL,
    resource_version bigint      NOT NULL,
    generation       bigint      NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    deleting         boolean     NOT NULL,
    template         text        NOT NULL,
    cluster          text        NOT NULL,
    node             text        NOT NULL,
    vmid             integer,
    ip               text        NOT NULL,
    hostname         text        NOT NULL,
    phase            text        NOT NULL,
    ready            boolean     NOT NULL,
    ready_reason     text        NOT NULL,
    stalled          boolean     NOT NULL,
    power_state      text        NOT NULL,
    tags             text[]      NOT NULL,
    service_count    integer     NOT NULL,
    script_count     integer     NOT NULL,
    observed_generation bigint   NOT NULL,
    spec             jsonb       NOT NULL,
    status           jsonb       NOT NULL,
    PRIMARY KEY (namespace, name)
);
CREATE UNIQUE INDEX containers_uid_key ON containers (uid);
CREATE INDEX containers_template_idx ON containers (namespace, template);
CREATE INDEX containers_phase_idx ON containers (phase);
CREATE INDEX containers_cluster_node_idx ON containers (cluster, node);

-- Rows of a container's status.services; they go with the container's row.
CREATE TABLE container_services (
    namespace        text        NOT NULL,
    container_name   text        NOT NULL,
    name             text        NOT NULL,
    uid              text        NOT NULL,
    resource_version bigint      NOT NULL,
    generation       bigint      NOT NULL,
    updated_at       timestamptz NOT NULL,
    port             integer     NOT NULL,
    protocol         text        NOT NULL,
    address          text        NOT NULL,
    process          text        NOT NULL,
    unit             text        NOT NULL,
    url              text        NOT NULL,
    PRIMARY KEY (namespace, container_name, name, port, protocol),
    FOREIGN KEY (namespace, container_name) REFERENCES containers (namespace, name)
        ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX container_services_uid_idx ON container_services (uid);

-- Events about LXCContainers, one row per Event and series count. No foreign key: the history
-- outlives both the Event (expired by the API server) and the container.
CREATE TABLE container_events (
    uid                  text        NOT NULL,
    series_count         integer     NOT NULL,
    namespace            text        NOT NULL,
    name                 text        NOT NULL,
    container_name       text        NOT NULL,
    container_uid        text        NOT NULL,
    resource_version     bigint      NOT NULL,
    generation           bigint      NOT NULL,
    updated_at           timestamptz NOT NULL,
    event_time           timestamptz NOT NULL,
    type                 text        NOT NULL,
    reason               text        NOT NULL,
    action               text        NOT NULL,
    note                 text        NOT NULL,
    reporting_controller text        NOT NULL,
    reporting_instance   text        NOT NULL,
    PRIMARY KEY (uid, series_count)
);
CREATE INDEX container_events_container_idx ON container_events (namespace, container_name, event_time);
CREATE INDEX container_events_container_uid_idx ON container_events (container_uid, event_time);
CREATE INDEX container_events_time_idx ON container_events (event_time);

-- +goose Down
DROP TABLE container_events;
DROP TABLE container_services;
DROP TABLE containers;
DROP TABLE templates;
DROP TABLE package_buckets;
