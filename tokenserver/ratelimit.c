/*
 * Failed-login counters (see ratelimit.h). Each kind is a set-associative
 * table: a key hashes (seeded at start, so names cannot be chosen to
 * collide) to a set of RL_WAYS entries guarded by one of RL_STRIPES
 * mutexes. Memory is fixed at ratelimit_new().
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "ratelimit.h"

#define RL_WAYS		8
#define RL_STRIPES	64

struct rl_entry {
	int64_t		window;
	uint32_t	count;
	char		key[RATELIMIT_KEY_MAX];	/* "": free */
};

struct rl_table {
	struct rl_entry	*e;
	size_t		 nsets;
	pthread_mutex_t	 stripe[RL_STRIPES];
};

struct ratelimit {
	struct rl_table	t[2];
	uint64_t	seed;
};

static int64_t
window_of(int64_t now)
{
	return now >= 0 ? now / RATELIMIT_WINDOW :
	    -((-now + RATELIMIT_WINDOW - 1) / RATELIMIT_WINDOW);
}

int64_t
ratelimit_retry_after(int64_t now)
{
	return (window_of(now) + 1) * RATELIMIT_WINDOW - now;
}

struct ratelimit *
ratelimit_new(size_t entries)
{
	struct ratelimit *rl;
	size_t k, i, nsets;

	if (entries < RL_WAYS)
		entries = RL_WAYS;
	if (entries > ((size_t)1 << 24))
		return NULL;
	nsets = (entries + RL_WAYS - 1) / RL_WAYS;
	if ((rl = calloc(1, sizeof(*rl))) == NULL)
		return NULL;
	if (RAND_bytes((unsigned char *)&rl->seed, sizeof(rl->seed)) != 1)
		rl->seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)rl;
	for (k = 0; k < 2; k++) {
		rl->t[k].nsets = nsets;
		rl->t[k].e = calloc(nsets * RL_WAYS, sizeof(struct rl_entry));
		if (rl->t[k].e == NULL) {
			free(rl->t[0].e);
			free(rl);
			return NULL;
		}
		for (i = 0; i < RL_STRIPES; i++)
			pthread_mutex_init(&rl->t[k].stripe[i], NULL);
	}
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	size_t k, i;

	if (rl == NULL)
		return;
	for (k = 0; k < 2; k++) {
		for (i = 0; i < RL_STRIPES; i++)
			pthread_mutex_destroy(&rl->t[k].stripe[i]);
		free(rl->t[k].e);
	}
	free(rl);
}

/* FNV-1a from a secret seed, then a splitmix64 finish. */
static uint64_t
hash(uint64_t seed, const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

static int
usable_key(const char *key)
{
	return key != NULL && key[0] != '\0' &&
	    strnlen(key, RATELIMIT_KEY_MAX) < RATELIMIT_KEY_MAX;
}

/*
 * Lock the stripe of `key`'s set and return the set. The caller unlocks
 * *mu.
 */
static struct rl_entry *
set_lock(struct ratelimit *rl, enum ratelimit_kind kind, const char *key,
    pthread_mutex_t **mu)
{
	struct rl_table *t = &rl->t[kind == RATELIMIT_USER ? 0 : 1];
	size_t set = (size_t)(hash(rl->seed, key) % t->nsets);

	*mu = &t->stripe[set % RL_STRIPES];
	pthread_mutex_lock(*mu);
	return &t->e[set * RL_WAYS];
}

/* The entry of `key` in `set` that still counts for window `w`, or NULL. */
static struct rl_entry *
find(struct rl_entry *set, const char *key, int64_t w)
{
	size_t i;

	for (i = 0; i < RL_WAYS; i++)
		if (set[i].window == w && set[i].key[0] != '\0' &&
		    strcmp(set[i].key, key) == 0)
			return &set[i];
	return NULL;
}

/* A slot for a new entry: a free or stale one, else the fewest failures. */
static struct rl_entry *
victim(struct rl_entry *set)
{
	struct rl_entry *v = NULL;
	size_t i;

	for (i = 0; i < RL_WAYS; i++) {
		if (set[i].key[0] == '\0')
			return &set[i];
		if (v == NULL || set[i].window < v->window ||
		    (set[i].window == v->window && set[i].count < v->count))
			v = &set[i];
	}
	return v;
}

int64_t
ratelimit_locked(struct ratelimit *rl, enum ratelimit_kind kind,
    const char *key, int64_t limit, int64_t now)
{
	pthread_mutex_t *mu;
	struct rl_entry *set, *en;
	int64_t w = window_of(now), left = 0;

	if (rl == NULL || limit <= 0 || !usable_key(key))
		return 0;
	set = set_lock(rl, kind, key, &mu);
	en = find(set, key, w);
	if (en != NULL && (int64_t)en->count >= limit)
		left = ratelimit_retry_after(now);
	pthread_mutex_unlock(mu);
	return left;
}

int64_t
ratelimit_fail(struct ratelimit *rl, enum ratelimit_kind kind,
    const char *key, int64_t limit, int64_t now)
{
	pthread_mutex_t *mu;
	struct rl_entry *set, *en;
	int64_t w = window_of(now), left = 0;

	if (rl == NULL || limit <= 0 || !usable_key(key))
		return 0;
	set = set_lock(rl, kind, key, &mu);
	if ((en = find(set, key, w)) == NULL) {
		en = victim(set);
		memset(en, 0, sizeof(*en));
		memcpy(en->key, key, strlen(key) + 1);
		en->window = w;
	}
	if ((int64_t)en->count < limit) {
		en->count++;
		if ((int64_t)en->count == limit)
			left = ratelimit_retry_after(now);
	}
	pthread_mutex_unlock(mu);
	return left;
}

uint32_t
ratelimit_count(struct ratelimit *rl, enum ratelimit_kind kind,
    const char *key, int64_t now)
{
	pthread_mutex_t *mu;
	struct rl_entry *set, *en;
	uint32_t n = 0;

	if (rl == NULL || !usable_key(key))
		return 0;
	set = set_lock(rl, kind, key, &mu);
	if ((en = find(set, key, window_of(now))) != NULL)
		n = en->count;
	pthread_mutex_unlock(mu);
	return n;
}
