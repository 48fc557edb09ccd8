module mmhook

go 1.19
