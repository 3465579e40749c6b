module example.com/stackmem

go 1.19
