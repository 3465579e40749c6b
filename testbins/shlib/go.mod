module example.com/shlib

go 1.19
