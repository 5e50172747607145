module infrahub-backup/tools/ihb-runc

go 1.22
