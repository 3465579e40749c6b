module example.com/manygoroutines

go 1.19
