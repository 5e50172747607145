module github.com/infrahub-backup/infrahub-backup/packages/image/neo4j-freeze

go 1.22
