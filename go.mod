module github.com/phpsess/phpsess

go 1.26
