-- The dashboard's schema, both generations, telling the truth:
-- * infrahaus main's columns (ProxmoxNode.sshPassword, isDefault, userId; Container.hostname)
--   beside pve-home-lab's (Container.rootPassword): Prisma names every column it reads, so one
--   set of views serves both dashboards;
-- * a template's packages include its buckets' packages, as the dashboard's own templates
--   held copies of them;
-- * a script or file whose content is in a ConfigMap or a Secret says so instead of being empty;
-- * an event is error only when it announces a stall, and events carry the step and percent
--   the progress page reads; the five phases are rows of their own;
-- * every view refuses writes, for every role, saying where changes are made.

-- +goose Up

-- A container's steps as the progress page reads them (internal/progress), written by the mirror.
ALTER TABLE containers ADD COLUMN progress jsonb NOT NULL DEFAULT '[]'::jsonb;
-- Rows written before this column existed are older than any state: the next resync rewrites them.
UPDATE containers SET resource_version = 0;

-- Settings the mirror writes at every start: the Proxmox user the dashboard signs in as, whose
-- nodes the dashboard lists (--mirror-dashboard-user).
CREATE TABLE dashboard_settings (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    user_id   text    NOT NULL
);
INSERT INTO dashboard_settings (user_id) VALUES ('root@pam');

-- Every node of the fleet belongs to the dashboard's user; the first (oldest) is its default.
CREATE OR REPLACE VIEW "ProxmoxNode" AS
SELECT (c.cluster || '/' || c.node)::text                              AS "id",
       c.node::text                                                    AS "name",
       c.node::text                                                    AS "host",
       8006::integer                                                   AS "port",
       ''::text                                                        AS "tokenId",
       ''::text                                                        AS "tokenSecret",
       NULL::text                                                      AS "fingerprint",
       (min(c.created_at) AT TIME ZONE 'UTC')::timestamp(3)            AS "createdAt",
       (max(c.updated_at) AT TIME ZONE 'UTC')::timestamp(3)            AS "updatedAt",
       NULL::text                                                      AS "sshPassword",
       (row_number() OVER (ORDER BY min(c.created_at), c.cluster, c.node) = 1)::boolean AS "isDefault",
       (SELECT s.user_id FROM dashboard_settings s)::text              AS "userId"
FROM containers c
GROUP BY c.cluster, c.node;

-- A template's packages: its buckets' (in the order of packageBucketRefs), then its own, each
-- (manager, name, version) once. bucketId stays NULL on them, so a bucket's page lists only the
-- bucket's own rows; the dashboard's edit page ticks a bucket whose packages the template has.
CREATE OR REPLACE VIEW "Package" AS
SELECT (b.uid || ':' || p.ord)::text                                   AS "id",
       (p.item ->> 'name')::text                                       AS "name",
       (CASE WHEN p.item ->> 'manager' IN ('apt', 'npm', 'pip') THEN p.item ->> 'manager'
             ELSE 'custom' END)::"PackageManager"                      AS "manager",
       (p.item ->> 'version')::text                                    AS "version",
       b.uid::text                                                     AS "bucketId",
       NULL::text                                                      AS "templateId"
FROM package_buckets b, jsonb_array_elements(b.packages) WITH ORDINALITY AS p(item, ord)
UNION ALL
SELECT (tp.template_uid || ':' || row_number() OVER (PARTITION BY tp.template_uid ORDER BY tp.pos))::text,
       (tp.item ->> 'name')::text,
       (CASE WHEN tp.item ->> 'manager' IN ('apt', 'npm', 'pip') THEN tp.item ->> 'manager'
             ELSE 'custom' END)::"PackageManager",
       (tp.item ->> 'version')::text,
       NULL::text,
       tp.template_uid::text
FROM (
    SELECT DISTINCT ON (all_pkgs.template_uid, all_pkgs.item ->> 'manager', all_pkgs.item ->> 'name',
                        COALESCE(all_pkgs.item ->> 'version', ''))
           all_pkgs.template_uid, all_pkgs.pos, all_pkgs.item
    FROM (
        SELECT t.uid AS template_uid, r.ord * 1000000 + p.ord AS pos, p.item
        FROM templates t
        CROSS JOIN LATERAL unnest(t.package_bucket_refs) WITH ORDINALITY AS r(name, ord)
        JOIN package_buckets b ON b.namespace = t.namespace AND b.name = r.name
        CROSS JOIN LATERAL jsonb_array_elements(b.packages) WITH ORDINALITY AS p(item, ord)
        UNION ALL
        SELECT t.uid, 1000000000000 + p.ord, p.item
        FROM templates t
        CROSS JOIN LATERAL jsonb_array_elements(t.packages) WITH ORDINALITY AS p(item, ord)
    ) all_pkgs
    ORDER BY all_pkgs.template_uid, all_pkgs.item ->> 'manager', all_pkgs.item ->> 'name',
             COALESCE(all_pkgs.item ->> 'version', ''), all_pkgs.pos
) tp;

-- The mirror never reads ConfigMaps or Secrets: such a script or file shows where its content is.
CREATE OR REPLACE VIEW "TemplateScript" AS
SELECT (t.uid || ':script:' || s.ord)::text                            AS "id",
       (s.item ->> 'name')::text                                       AS "name",
       (s.ord - 1)::integer                                            AS "order",
       COALESCE(s.item ->> 'content',
                '# The content of this script is in ConfigMap ' || t.namespace || '/' ||
                (s.item -> 'configMapRef' ->> 'name') || ', key ' || (s.item -> 'configMapRef' ->> 'key') ||
                E'.\n# The mirror does not copy ConfigMaps: kubectl get configmap -n ' || t.namespace ||
                ' ' || (s.item -> 'configMapRef' ->> 'name') || E' -o yaml\n',
                '')::text                                              AS "content",
       (CASE WHEN s.item ? 'configMapRef' THEN
             'ConfigMap ' || (s.item -> 'configMapRef' ->> 'name') || ', key ' || (s.item -> 'configMapRef' ->> 'key')
        END)::text                                                     AS "description",
       true::boolean                                                   AS "enabled",
       t.uid::text                                                     AS "templateId"
FROM templates t, jsonb_array_elements(COALESCE(t.spec -> 'scripts', '[]')) WITH ORDINALITY AS s(item, ord);

CREATE OR REPLACE VIEW "TemplateFile" AS
SELECT (t.uid || ':file:' || f.ord)::text                              AS "id",
       regexp_replace(f.item ->> 'path', '^.*/', '')::text             AS "name",
       (f.item ->> 'path')::text                                       AS "targetPath",
       COALESCE(f.item ->> 'policy', 'replace')::"FilePolicy"          AS "policy",
       COALESCE(f.item ->> 'content',
                'The content of this file is in Secret ' || t.namespace || '/' ||
                (f.item -> 'secretRef' ->> 'name') || ', key ' || (f.item -> 'secretRef' ->> 'key') ||
                E'. The mirror never copies a Secret.\n',
                'The content of this file is in ConfigMap ' || t.namespace || '/' ||
                (f.item -> 'configMapRef' ->> 'name') || ', key ' || (f.item -> 'configMapRef' ->> 'key') ||
                E'. The mirror does not copy ConfigMaps.\n',
                '')::text                                              AS "content",
       t.uid::text                                                     AS "templateId"
FROM templates t, jsonb_array_elements(COALESCE(t.spec -> 'files', '[]')) WITH ORDINALITY AS f(item, ord);

CREATE OR REPLACE VIEW "Container" AS
SELECT c.uid::text                                                     AS "id",
       COALESCE(c.vmid, 0)::integer                                    AS "vmid",
       (CASE WHEN c.ready THEN 'ready'
             WHEN c.stalled THEN 'error'
             ELSE 'creating' END)::"ContainerLifecycle"                AS "lifecycle",
       ''::text                                                        AS "rootPassword",
       (c.created_at AT TIME ZONE 'UTC')::timestamp(3)                 AS "createdAt",
       (c.updated_at AT TIME ZONE 'UTC')::timestamp(3)                 AS "updatedAt",
       (c.cluster || '/' || c.node)::text                              AS "nodeId",
       t.uid::text                                                     AS "templateId",
       c.hostname::text                                                AS "hostname"
FROM containers c
LEFT JOIN templates t ON t.namespace = c.namespace AND t.name = c.template;

-- Kubernetes Events, then the five phases as the container's conditions record them.
-- error: only an Event announcing a stall (action Stall): the container cannot go on until its
-- spec or what it references changes. A failure retried with back-off (action Retry, e.g. SSH
-- not up yet while the guest boots) is progress to the dashboard, not a failed creation.
CREATE OR REPLACE VIEW "ContainerEvent" AS
SELECT (e.uid || ':' || e.series_count)::text                          AS "id",
       (CASE WHEN e.type = 'Warning' AND e.action = 'Stall' THEN 'error'
             WHEN e.reason IN ('Creating', 'Adopted') THEN 'created'
             WHEN e.reason IN ('Stopped', 'Deleting', 'Destroyed', 'Retained') THEN 'stopped'
             WHEN e.reason = 'Succeeded' THEN 'service_ready'
             ELSE 'started' END)::"EventType"                          AS "type",
       e.note::text                                                    AS "message",
       (jsonb_build_object('type', e.type, 'reason', e.reason, 'action', e.action,
                           'namespace', e.namespace, 'container', e.container_name,
                           'reportingController', e.reporting_controller,
                           'count', e.series_count) ||
        CASE WHEN e.type = 'Warning' AND e.action = 'Stall' THEN '{}'::jsonb
             WHEN e.reason = 'Creating' THEN '{"step": "creating", "percent": 5}'::jsonb
             WHEN e.reason = 'Starting' THEN '{"step": "starting", "percent": 25}'::jsonb
             WHEN e.reason = 'ScriptRunning' THEN '{"step": "syncing", "percent": 65}'::jsonb
             WHEN e.reason = 'Succeeded' THEN '{"step": "finalizing", "percent": 100}'::jsonb
             ELSE '{}'::jsonb END)::text                               AS "metadata",
       (e.event_time AT TIME ZONE 'UTC')::timestamp(3)                 AS "createdAt",
       e.container_uid::text                                           AS "containerId"
FROM container_events e
UNION ALL
SELECT (c.uid || ':' || (s.item ->> 'condition'))::text,
       (s.item ->> 'type')::"EventType",
       COALESCE(NULLIF(s.item ->> 'message', ''), s.item ->> 'condition')::text,
       jsonb_build_object('step', s.item ->> 'step', 'percent', (s.item ->> 'percent')::integer,
                          'condition', s.item ->> 'condition', 'reason', s.item ->> 'reason',
                          'done', (s.item ->> 'done')::boolean,
                          'namespace', c.namespace, 'container', c.name)::text,
       ((s.item ->> 'at')::timestamptz AT TIME ZONE 'UTC')::timestamp(3),
       c.uid::text
FROM containers c, jsonb_array_elements(c.progress) AS s(item);

-- Every view of the dashboard's schema is read-only, for every role (an owner or a superuser
-- included): the rows are the cluster's objects.
-- +goose StatementBegin
CREATE FUNCTION dashboard_read_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the dashboard''s "%" is read-only: it shows the Kubernetes cluster''s objects', TG_TABLE_NAME
        USING ERRCODE = 'read_only_sql_transaction',
              DETAIL = 'LXC Template Manager''s status mirror writes these rows from the cluster; a write here would be lost.',
              HINT = 'Make the change with the console or kubectl (kubectl apply, kubectl edit, kubectl delete), or in Git for GitOps.';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER read_only INSTEAD OF INSERT OR UPDATE OR DELETE ON "ProxmoxNode" FOR EACH ROW EXECUTE FUNCTION dashboard_read_only();
CREATE TRIGGER read_only INSTEAD OF INSERT OR UPDATE OR DELETE ON "Template" FOR EACH ROW EXECUTE FUNCTION dashboard_read_only();
CREATE TRIGGER read_only INSTEAD OF INSERT OR UPDATE OR DELETE ON "PackageBucket" FOR EACH ROW EXECUTE FUNCTION dashboard_read_only();
CREATE TRIGGER read_only INSTEAD OF INSERT OR UPDATE OR DELETE ON "Package" FOR EACH ROW EXECUTE FUNCTION dashboard_read_only();
CREATE TRIGGER read_only INSTEAD OF INSERT OR UPDATE OR DELETE ON "TemplateScript" FOR EACH ROW EXECUTE FUNCTION dashboard_read_only();
CREATE TRIGGER read_only INSTEAD OF INSERT OR UPDATE OR DELETE ON "TemplateFile" FOR EACH ROW EXECUTE FUNCTION dashboard_read_only();
CREATE TRIGGER read_only INSTEAD OF INSERT OR UPDATE OR DELETE ON "Container" FOR EACH ROW EXECUTE FUNCTION dashboard_read_only();
CREATE TRIGGER read_only INSTEAD OF INSERT OR UPDATE OR DELETE ON "ContainerService" FOR EACH ROW EXECUTE FUNCTION dashboard_read_only();
CREATE TRIGGER read_only INSTEAD OF INSERT OR UPDATE OR DELETE ON "ContainerEvent" FOR EACH ROW EXECUTE FUNCTION dashboard_read_only();

-- +goose Down
-- The views go back to the shape migration 00002 gave them.
DROP TRIGGER read_only ON "ContainerEvent";
DROP TRIGGER read_only ON "ContainerService";
DROP TRIGGER read_only ON "Container";
DROP TRIGGER read_only ON "TemplateFile";
DROP TRIGGER read_only ON "TemplateScript";
DROP TRIGGER read_only ON "Package";
DROP TRIGGER read_only ON "PackageBucket";
DROP TRIGGER read_only ON "Template";
DROP TRIGGER read_only ON "ProxmoxNode";
DROP FUNCTION dashboard_read_only();
DROP VIEW "ContainerEvent";
DROP VIEW "Container";
DROP VIEW "TemplateFile";
DROP VIEW "TemplateScript";
DROP VIEW "Package";
DROP VIEW "ProxmoxNode";
DROP TABLE dashboard_settings;
ALTER TABLE containers DROP COLUMN progress;

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

CREATE VIEW "TemplateFile" AS
SELECT (t.uid || ':file:' || f.ord)::text                              AS "id",
       regexp_replace(f.item ->> 'path', '^.*/', '')::text             AS "name",
       (f.item ->> 'path')::text                                       AS "targetPath",
       COALESCE(f.item ->> 'policy', 'replace')::"FilePolicy"          AS "policy",
       COALESCE(f.item ->> 'content', '')::text                        AS "content",
       t.uid::text                                                     AS "templateId"
FROM templates t, jsonb_array_elements(COALESCE(t.spec -> 'files', '[]')) WITH ORDINALITY AS f(item, ord);

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
