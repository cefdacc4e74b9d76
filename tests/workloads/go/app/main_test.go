package main

import "testing"

func TestSum(t *testing.T) {
	if 2+2 != 4 {
		t.Fatal("arithmetic")
	}
}
