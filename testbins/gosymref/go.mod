module example.com/gosymref

go 1.19
