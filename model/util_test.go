package model

import "math"

func sqrt(x float64) float64 { return math.Sqrt(x) }

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}
