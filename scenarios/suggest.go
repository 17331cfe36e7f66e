package scenarios

import "strings"

// closest returns the candidate nearest to word, if one is near enough to
// be a likely typo, or "". Case is ignored; a swap of two neighbouring
// letters counts as one edit.
func closest(word string, candidates []string) string {
	word = strings.ToLower(word)
	best, bestDist := "", maxTypos(word)+1
	for _, c := range candidates {
		if d := distance(word, strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// maxTypos is how many edits a word of this length may carry and still be
// recognised.
func maxTypos(word string) int {
	switch n := len(word); {
	case n <= 3:
		return 1
	case n <= 8:
		return 2
	default:
		return 3
	}
}

// distance is the optimal string alignment distance between a and b: the
// Levenshtein distance, with a transposition of adjacent characters as one
// edit. Words longer than 64 bytes are far from every key and return a
// large distance without being compared.
func distance(a, b string) int {
	const limit = 64
	if len(a) > limit || len(b) > limit {
		return limit
	}
	// prev2, prev and cur are rows i-2, i-1 and i of the edit matrix.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
