-- The original dashboard's schema (kethalia/pve-home-lab, apps/dashboard/prisma), as read-only
-- views over the mirror's tables: the same table, column and enum names and types as its Prisma
-- migrations create. Names are quoted because Prisma keeps their case.

-- +goose Up
CREATE TYPE "PackageManager" AS ENUM ('apt', 'npm', 'pip', 'custom');
CREATE TYPE "TemplateSource" AS ENUM ('filesystem', 'custom');
CREATE TYPE "FilePolicy" AS ENUM ('replace', 'default', 'backup');
CREATE TYPE "ContainerLifecycle" AS ENUM ('creating', 'ready', 'error');
CREATE TYPE "ServiceType" AS ENUM ('systemd', 'docker', 'process');
CREATE TYPE "ServiceStatus" AS ENUM ('installing', 'running', 'stopped', 'error');
CREATE TYPE "EventType" AS ENUM ('created', 'started', 'stopped', 'error', 'service_ready', 'script_completed');

-- The dashboard has one flat name space; a Kubernetes object is named "namespace/name" there.
-- Prisma's DateTime is timestamp(3) without time zone holding UTC.

CREATE VIEW "ProxmoxNode" AS
SELECT (c.cluster || '/' || c.node)::text                              AS "id",
       c.node::text                                                    AS "name",
       c.node::text                                                    AS "host",
       8006::integer                                                   AS "port",
       ''::text                                                        AS "tokenId",
       ''::text                                                        AS "tokenSecret",
       NULL::text                                                      AS "fingerprint",
       (min(c.created_at) AT TIME ZONE 'UTC')::timestamp(3)            AS "createdAt",
       (max(c.updated_at) AT TIME ZONE 'UTC')::timestamp(3)            AS "updatedAt"
FROM containers c
GROUP BY c.cluster, c.node;

CREATE VIEW "Template" AS
SELECT t.uid::text                                                     AS "id",
       (t.namespace || '/' || t.name)::text                            AS "name",
       NULLIF(t.description, '')::text                                 AS "description",
       'custom'::"TemplateSource"                                      AS "source",
       NULL::text                                                      AS "path",
       NULLIF(t.os_template, '')::text                                 AS "osTemplate",
       t.cores::integer                                                AS "cores",
       t.memory_mib::integer                                           AS "memory",
       t.swap_mib::integer                                             AS "swap",
       t.disk_gib::integer                                             AS "diskSize",
       NULLIF(t.storage, '')::text                                     AS "storage",
       NULLIF(t.bridge, '')::text                                      AS "bridge",
       t.unprivileged::boolean                                         AS "unprivileged",
       t.nesting::boolean                                              AS "nesting",
       t.keyctl::boolean                                               AS "keyctl",
       t.fuse::boolean                                                 AS "fuse",
       NULLIF(array_to_string(t.tags, ';'), '')::text                  AS "tags",
       (t.created_at AT TIME ZONE 'UTC')::timestamp(3)                 AS "createdAt",
       (t.updated_at AT TIME ZONE 'UTC')::timestamp(3)                 AS "updatedAt"
FROM templates t;

CREATE VIEW "PackageBucket" AS
SELECT b.uid::text                                                     AS "id",
       (b.namespace || '/' || b.name)::text                            AS "name",
       NULLIF(b.description, '')::text                                 AS "description",
       (b.created_at AT TIME ZONE 'UTC')::timestamp(3)                 AS "createdAt"
FROM package_buckets b;

-- apk and dnf have no value in the dashboard's enum: they read as custom.
CREATE VIEW "Package" AS
SELECT (b.uid || ':' || p.ord)::text                                   AS "id",
       (p.item ->> 'name')::text                                       AS "name",
       (CASE WHEN p.item ->> 'manager' IN ('apt', 'npm', 'pip') THEN p.item ->> 'manager'
             ELSE 'custom' END)::"PackageManager"                      AS "manager",
       (p.item ->> 'version')::text                                    AS "version",
       b.uid::text                                                     AS "bucketId",
       NULL::text                                                      AS "templateId"
FROM package_buckets b, jsonb_array_elements(b.packages) WITH ORDINALITY AS p(item, ord)
UNION ALL
SELECT (t.uid || ':' || p.ord)::text,
       (p.item ->> 'name')::text,
       (CASE WHEN p.item ->> 'manager' IN ('apt', 'npm', 'pip') THEN p.item ->> 'manager'
             ELSE 'custom' END)::"PackageManager",
       (p.item ->> 'version')::text,
       NULL::text,
       t.uid::text
FROM templates t, jsonb_array_elements(t.packages) WITH ORDINALITY AS p(item, ord);

-- A script from a ConfigMap has no content in the mirror (the mirror reads no ConfigMaps);
-- its description names the source.
CREATE VIEW "TemplateScript" AS
SELECT (t.uid || ':script:' || s.ord)::text                            AS "id",
       (s.item ->> 'name')::text                                       AS "name",
       (s.ord - 1)::integer                                            AS "order",
       COALESCE(s.item ->> 'content', '')::text                        AS "content",
       (CASE WHEN s.item ? 'configMapRef' THEN
             'ConfigMap ' || (s.item -> 'configMapRef' ->> 'name') || ', key ' || (s.item -> 'configMapRef' ->> 'key')
        END)::text                                                     AS "description",
       true::boolean                                                   AS "enabled",
       t.uid::text                                                     AS "templateId"
FROM templates t, jsonb_array_elements(COALESCE(t.spec -> 'scripts', '[]')) WITH ORDINALITY AS s(item, ord);

-- Only inline contents are shown; a file from a Secret or a ConfigMap reads as empty.
CREATE VIEW "TemplateFile" AS
SELECT (t.uid || ':file:' || f.ord)::text                              AS "id",
       regexp_replace(f.item ->> 'path', '^.*/', '')::text             AS "name",
       (f.item ->> 'path')::text                                       AS "targetPath",
       COALESCE(f.item ->> 'policy', 'replace')::"FilePolicy"          AS "policy",
       COALESCE(f.item ->> 'content', '')::text                        AS "content",
       t.uid::text                                                     AS "templateId"
FROM templates t, jsonb_array_elements(COALESCE(t.spec -> 'files', '[]')) WITH ORDINALITY AS f(item, ord);

-- rootPassword never holds the password: the password lives in a Secret the mirror never reads.
CREATE VIEW "Container" AS
SELECT c.uid::text                                                     AS "id",
       COALESCE(c.vmid, 0)::integer                                    AS "vmid",
       (CASE WHEN c.ready THEN 'ready'
             WHEN c.stalled THEN 'error'
             ELSE 'creating' END)::"ContainerLifecycle"                AS "lifecycle",
       ''::text                                                        AS "rootPassword",
       (c.created_at AT TIME ZONE 'UTC')::timestamp(3)                 AS "createdAt",
       (c.updated_at AT TIME ZONE 'UTC')::timestamp(3)                 AS "updatedAt",
       (c.cluster || '/' || c.node)::text                              AS "nodeId",
       t.uid::text                                                     AS "templateId"
FROM containers c
LEFT JOIN templates t ON t.namespace = c.namespace AND t.name = c.template;

-- A discovered service is listening, hence running; credentials stay in the container's
-- credentials Secret and are never copied here.
CREATE VIEW "ContainerService" AS
SELECT (s.uid || ':' || s.name || ':' || s.port || '/' || s.protocol)::text AS "id",
       s.name::text                                                    AS "name",
       (CASE WHEN s.unit LIKE 'docker%' OR s.process LIKE 'docker%' THEN 'docker'
             WHEN s.unit <> '' THEN 'systemd'
             ELSE 'process' END)::"ServiceType"                        AS "type",
       s.port::integer                                                 AS "port",
       NULLIF(s.url, '')::text                                         AS "webUrl",
       'running'::"ServiceStatus"                                      AS "status",
       NULL::text                                                      AS "credentials",
       s.uid::text                                                     AS "containerId"
FROM container_services s;

CREATE VIEW "ContainerEvent" AS
SELECT (e.uid || ':' || e.series_count)::text                          AS "id",
       (CASE WHEN e.type = 'Warning' THEN 'error'
             WHEN e.reason IN ('Creating', 'Adopted') THEN 'created'
             WHEN e.reason IN ('Stopped', 'Deleting', 'Destroyed', 'Retained') THEN 'stopped'
             WHEN e.reason LIKE 'Script%' THEN 'script_completed'
             WHEN e.reason = 'Succeeded' THEN 'service_ready'
             ELSE 'started' END)::"EventType"                          AS "type",
       e.note::text                                                    AS "message",
       jsonb_build_object('type', e.type, 'reason', e.reason, 'action', e.action,
                          'namespace', e.namespace, 'container', e.container_name,
                          'reportingController', e.reporting_controller,
                          'count', e.series_count)::text               AS "metadata",
       (e.event_time AT TIME ZONE 'UTC')::timestamp(3)                 AS "createdAt",
       e.container_uid::text                                           AS "containerId"
FROM container_events e;

-- +goose Down
DROP VIEW "ContainerEvent";
DROP VIEW "ContainerService";
DROP VIEW "Container";
DROP VIEW "TemplateFile";
DROP VIEW "TemplateScript";
DROP VIEW "Package";
DROP VIEW "PackageBucket";
DROP VIEW "Template";
DROP VIEW "ProxmoxNode";
DROP TYPE "EventType";
DROP TYPE "ServiceStatus";
DROP TYPE "ServiceType";
DROP TYPE "ContainerLifecycle";
DROP TYPE "FilePolicy";
DROP TYPE "TemplateSource";
DROP TYPE "PackageManager";
