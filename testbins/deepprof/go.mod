module example.com/deepprof

go 1.19
