/*
 * cache: login tokens on disk, one JSON file per entry in a 0700 folder
 * ($REGAUTH_CACHE_DIR, else $XDG_CACHE_HOME/regauth, else ~/.cache/regauth).
 * Files are 0600, written atomically (temporary file + rename), so readers
 * need no lock; writers hold an flock on the folder's ".lock" so parallel
 * helpers make one exchange. Two kinds of entries: CACHE_LOGIN (what store
 * and login keep, removed only by erase/logout) and CACHE_TOKEN (tokens from
 * keys, bounded to CACHE_MAX_TOKENS entries, oldest evicted).
 */
#ifndef HELPER_CACHE_H
#define HELPER_CACHE_H

#include <time.h>

#include "util.h"

#define CACHE_LOGIN "login"
#define CACHE_TOKEN "token"
#define CACHE_MAX_TOKENS 64
/* A token with less than this left is never handed out. */
#define CACHE_MIN_VALID 30

struct cache {
	char *dir;
	int lockfd;
};

struct cache_entry {
	char *id;       /* what the entry is for; checked on read */
	char *registry; /* normalized registry key */
	char *username; /* shown by list; never a secret */
	char *server;   /* token server that issued it */
	char *token;    /* the secret */
	long long iat;  /* issued at (0: unknown) */
	long long exp;  /* expires at (0: unknown, no expiry known) */
};

enum cache_state {
	CACHE_EXPIRED = 0, /* not to be handed out */
	CACHE_STALE,       /* valid, but time to refresh */
	CACHE_FRESH
};

/* Find the folder (does not create it). */
int cache_init(struct cache *c, struct err *e);
/* Create the folder 0700 (refuses one owned by another user). */
int cache_prepare(struct cache *c, struct err *e);
void cache_close(struct cache *c);
/* 1 found (out filled, caller clears), 0 absent, -1 error. */
int cache_get(const struct cache *c, const char *kind, const char *id,
    struct cache_entry *out, struct err *e);
int cache_put(struct cache *c, const char *kind, const struct cache_entry *en,
    struct err *e);
/* 1 removed, 0 absent, -1 error. */
int cache_remove(struct cache *c, const char *kind, const char *id,
    struct err *e);
/* Exclusive flock on the folder's lock file; blocks. */
int cache_lock(struct cache *c, struct err *e);
void cache_unlock(struct cache *c);
/* Keep at most max entries of kind, removing the oldest. */
int cache_evict(struct cache *c, const char *kind, int max);
/* Call fn for every readable entry of kind. */
int cache_list(const struct cache *c, const char *kind,
    void (*fn)(const struct cache_entry *, void *), void *arg);
/* Fresh, stale (refresh: less than a quarter of its life or 5 min left), or expired. */
enum cache_state cache_state(const struct cache_entry *en, time_t now);
/* Free the fields, wiping the token. */
void cache_entry_clear(struct cache_entry *en);

#endif
