// The pod sandbox process of the kind node image (issue 27); no dependencies. Built by tools/install/kind.sh.
module infrahub-backup.local/tools/kind-pause

go 1.26.0
