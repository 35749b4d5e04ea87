package handlers

// RedisShardPick is redisShardPick for the tests of package handlers_test:
// the index, in save_path order, of the server among servers of the given
// weights that phpredis keeps session id on.
func RedisShardPick(id string, weights ...int) int {
	w := make([]uint32, len(weights))
	var total uint32
	for i, n := range weights {
		w[i] = uint32(n)
		total += uint32(n)
	}
	return redisShardPick(id, w, total)
}
