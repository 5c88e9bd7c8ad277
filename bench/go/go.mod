module httptrace-bench-go

go 1.19
