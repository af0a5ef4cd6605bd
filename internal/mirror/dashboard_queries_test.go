package mirror

// The queries the original dashboard's pages make through Prisma (apps/dashboard/src/lib/db.ts),
// written as the SQL Prisma sends for them. docs/mirror.md shows the same queries.
const (
	// Template list: DatabaseService.listTemplates({tags}), include _count of scripts, files,
	// packages; the containers using each template added as the usage count.
	queryTemplateList = `SELECT t."id", t."name", t."description", t."tags", t."osTemplate", t."updatedAt",
       (SELECT count(*) FROM "TemplateScript" s WHERE s."templateId" = t."id") AS scripts,
       (SELECT count(*) FROM "TemplateFile" f WHERE f."templateId" = t."id") AS files,
       (SELECT count(*) FROM "Package" p WHERE p."templateId" = t."id") AS packages,
       (SELECT count(*) FROM "Container" c WHERE c."templateId" = t."id") AS containers
FROM "Template" t
WHERE (t."tags" = $1 OR t."tags" LIKE $1 || ';%' OR t."tags" LIKE '%;' || $1 OR t."tags" LIKE '%;' || $1 || ';%')
ORDER BY t."name" ASC`

	// Template detail: getTemplateById, include scripts (by order), files, packages.
	queryTemplate        = `SELECT "id", "name", "source", "cores", "memory", "swap", "diskSize", "storage", "bridge", "unprivileged", "nesting", "keyctl", "fuse", "tags" FROM "Template" WHERE "id" = $1`
	queryTemplateScripts = `SELECT "name", "order", "content", "description", "enabled" FROM "TemplateScript" WHERE "templateId" = $1 ORDER BY "order" ASC`
	queryTemplateFiles   = `SELECT "name", "targetPath", "policy", "content" FROM "TemplateFile" WHERE "templateId" = $1 ORDER BY "targetPath"`
	queryTemplatePkgs    = `SELECT "name", "manager", "version" FROM "Package" WHERE "templateId" = $1 ORDER BY "name"`

	// Package buckets: listBuckets, include packages.
	queryBuckets = `SELECT b."name", p."name", p."manager", p."version"
FROM "PackageBucket" b JOIN "Package" p ON p."bucketId" = b."id"
ORDER BY b."name" ASC, p."name" ASC`

	// Container list: containers with their node and template.
	queryContainerList = `SELECT c."id", c."vmid", c."lifecycle", n."name", t."name"
FROM "Container" c
JOIN "ProxmoxNode" n ON n."id" = c."nodeId"
LEFT JOIN "Template" t ON t."id" = c."templateId"
ORDER BY c."createdAt" DESC`

	// Container detail: getContainerById (include node, template, services) and
	// getContainerEvents (by createdAt).
	queryContainer         = `SELECT c."vmid", c."lifecycle", c."rootPassword", n."name", n."host", t."name" FROM "Container" c JOIN "ProxmoxNode" n ON n."id" = c."nodeId" LEFT JOIN "Template" t ON t."id" = c."templateId" WHERE c."id" = $1`
	queryContainerServices = `SELECT "name", "type", "port", "webUrl", "status", "credentials" FROM "ContainerService" WHERE "containerId" = $1 ORDER BY "name"`
	queryContainerEvents   = `SELECT "type", "message", "metadata", "createdAt" FROM "ContainerEvent" WHERE "containerId" = $1 ORDER BY "createdAt" ASC`

	// infrahaus main: listNodesForUser (the settings page, the create wizard's node choice) and
	// getContainerById with the hostname column it added.
	queryNodesForUser       = `SELECT "name", "host", "port", "isDefault", "sshPassword" FROM "ProxmoxNode" WHERE "userId" = $1 ORDER BY "createdAt" ASC`
	queryContainerInfrahaus = `SELECT c."vmid", c."hostname", c."lifecycle", n."name", t."name" FROM "Container" c JOIN "ProxmoxNode" n ON n."id" = c."nodeId" LEFT JOIN "Template" t ON t."id" = c."templateId" WHERE c."id" = $1`
)
