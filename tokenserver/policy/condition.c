/*
 * Condition operators (IAM_SEMANTICS.md section 4): operator names, the
 * parsed form of policy values, and evaluation against a request context
 * with the missing-key, IfExists, negated-NOR and set-operator rules.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "internal.h"

static const struct {
	const char	*name;
	enum policy_cop	 op;
} op_names[] = {
	{ "StringEquals", COP_STRING_EQUALS },
	{ "StringNotEquals", COP_STRING_NOT_EQUALS },
	{ "StringEqualsIgnoreCase", COP_STRING_EQUALS_IC },
	{ "StringNotEqualsIgnoreCase", COP_STRING_NOT_EQUALS_IC },
	{ "StringLike", COP_STRING_LIKE },
	{ "StringNotLike", COP_STRING_NOT_LIKE },
	{ "NumericEquals", COP_NUMERIC_EQ },
	{ "NumericNotEquals", COP_NUMERIC_NE },
	{ "NumericLessThan", COP_NUMERIC_LT },
	{ "NumericLessThanEquals", COP_NUMERIC_LE },
	{ "NumericGreaterThan", COP_NUMERIC_GT },
	{ "NumericGreaterThanEquals", COP_NUMERIC_GE },
	{ "DateEquals", COP_DATE_EQ },
	{ "DateNotEquals", COP_DATE_NE },
	{ "DateLessThan", COP_DATE_LT },
	{ "DateLessThanEquals", COP_DATE_LE },
	{ "DateGreaterThan", COP_DATE_GT },
	{ "DateGreaterThanEquals", COP_DATE_GE },
	{ "Bool", COP_BOOL },
	{ "BinaryEquals", COP_BINARY_EQUALS },
	{ "IpAddress", COP_IP },
	{ "NotIpAddress", COP_NOT_IP },
	{ "ArnEquals", COP_ARN_LIKE },
	{ "ArnLike", COP_ARN_LIKE },
	{ "ArnNotEquals", COP_ARN_NOT_LIKE },
	{ "ArnNotLike", COP_ARN_NOT_LIKE },
	{ "Null", COP_NULL },
};

/*
 * Split an operator name into qualifier, base operator and IfExists.
 * Returns 0; -1 unknown operator; -2 Null with IfExists; -3 ForAnyValue
 * with IfExists (disputed on a missing key, so regauth refuses it).
 */
int
policy_cond_parse_op(const char *name, enum policy_cop *op,
    enum policy_cset *set, int *ifexists)
{
	size_t n, i;
	enum policy_cset s = CSET_NONE;
	int ie = 0;

	if (strncmp(name, "ForAllValues:", 13) == 0) {
		s = CSET_ALL;
		name += 13;
	} else if (strncmp(name, "ForAnyValue:", 12) == 0) {
		s = CSET_ANY;
		name += 12;
	}
	n = strlen(name);
	if (n > 8 && strcmp(name + n - 8, "IfExists") == 0) {
		ie = 1;
		n -= 8;
	}
	for (i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++) {
		if (strlen(op_names[i].name) == n &&
		    strncmp(op_names[i].name, name, n) == 0)
			break;
	}
	if (i == sizeof(op_names) / sizeof(op_names[0]))
		return -1;
	if (op_names[i].op == COP_NULL && ie)
		return -2;
	if (s == CSET_ANY && ie)
		return -3;
	*op = op_names[i].op;
	*set = s;
	*ifexists = ie;
	return 0;
}

int
policy_cop_allows_vars(enum policy_cop op)
{
	switch (op) {
	case COP_STRING_EQUALS:
	case COP_STRING_NOT_EQUALS:
	case COP_STRING_EQUALS_IC:
	case COP_STRING_NOT_EQUALS_IC:
	case COP_STRING_LIKE:
	case COP_STRING_NOT_LIKE:
	case COP_ARN_LIKE:
	case COP_ARN_NOT_LIKE:
		return 1;
	default:
		return 0;
	}
}

static int
cop_negated(enum policy_cop op)
{
	switch (op) {
	case COP_STRING_NOT_EQUALS:
	case COP_STRING_NOT_EQUALS_IC:
	case COP_STRING_NOT_LIKE:
	case COP_NUMERIC_NE:
	case COP_DATE_NE:
	case COP_NOT_IP:
	case COP_ARN_NOT_LIKE:
		return 1;
	default:
		return 0;
	}
}

/* Numbers: exact decimal comparison, no floating point. */
struct dec {
	int		 neg;
	const char	*ip;
	size_t		 il;
	const char	*fp;
	size_t		 fl;
};

static int
parse_dec(const char *s, struct dec *d)
{
	const char *p = s, *q;
	size_t digits = 0;

	memset(d, 0, sizeof(*d));
	if (*p == '+' || *p == '-')
		d->neg = *p++ == '-';
	q = p;
	while (*p >= '0' && *p <= '9')
		p++;
	digits += (size_t)(p - q);
	while (p - q > 1 && *q == '0')
		q++;
	if (p - q == 1 && *q == '0')
		q = p;
	d->ip = q;
	d->il = (size_t)(p - q);
	if (*p == '.') {
		q = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		digits += (size_t)(p - q);
		d->fp = q;
		d->fl = (size_t)(p - q);
		while (d->fl > 0 && d->fp[d->fl - 1] == '0')
			d->fl--;
	} else {
		d->fp = p;
	}
	if (*p != '\0' || digits == 0)
		return -1;
	if (d->il == 0 && d->fl == 0)
		d->neg = 0;
	return 0;
}

static int
dec_cmp(const struct dec *a, const struct dec *b)
{
	size_t i, n;
	int c = 0, sign;

	if (a->neg != b->neg)
		return a->neg ? -1 : 1;
	sign = a->neg ? -1 : 1;
	if (a->il != b->il)
		return a->il < b->il ? -sign : sign;
	if ((c = memcmp(a->ip, b->ip, a->il)) != 0)
		return c < 0 ? -sign : sign;
	n = a->fl > b->fl ? a->fl : b->fl;
	for (i = 0; i < n; i++) {
		char x = i < a->fl ? a->fp[i] : '0';
		char y = i < b->fl ? b->fp[i] : '0';

		if (x != y)
			return x < y ? -sign : sign;
	}
	return 0;
}

/* Dates: W3C ISO-8601 (with offset, default UTC) or epoch seconds. */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int
digits(const char **p, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int
parse_date(const char *s, int64_t *sec, int32_t *nsec)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	const char *p = s;
	int y, mo = 1, d = 1, h = 0, mi = 0, se = 0, oh = 0, om = 0, sign = 0;
	int64_t frac = 0, scale = 1000000000;
	int64_t v = 0;
	int neg = 0, n = 0;

	/* Epoch seconds: digits only (optionally signed, with a fraction). */
	if (*p == '-') {
		neg = 1;
		p++;
	}
	while (p[n] >= '0' && p[n] <= '9')
		n++;
	if (n > 0 && n != 4 && (p[n] == '\0' || p[n] == '.')) {
		if (n > 15)
			return -1;
		for (; *p >= '0' && *p <= '9'; p++)
			v = v * 10 + (*p - '0');
		if (*p == '.') {
			for (p++; *p >= '0' && *p <= '9'; p++)
				if (scale > 1) {
					scale /= 10;
					frac += (*p - '0') * scale;
				}
		}
		if (*p != '\0')
			return -1;
		if (neg && frac > 0) {
			v = -v - 1;
			frac = 1000000000 - frac;
		} else if (neg) {
			v = -v;
		}
		*sec = v;
		*nsec = (int32_t)frac;
		return 0;
	}
	if (neg)
		return -1;
	/* A bare 4-digit year stays a date, as in ISO-8601. */
	if (digits(&p, 4, &y) == -1)
		return -1;
	if (*p == '-') {
		p++;
		if (digits(&p, 2, &mo) == -1)
			return -1;
		if (*p == '-') {
			p++;
			if (digits(&p, 2, &d) == -1)
				return -1;
		}
	}
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
		return -1;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) ||
	    y % 400 == 0))
		return -1;
	if (*p == 'T' || *p == 't') {
		p++;
		if (digits(&p, 2, &h) == -1 || *p++ != ':' ||
		    digits(&p, 2, &mi) == -1)
			return -1;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &se) == -1)
				return -1;
			if (*p == '.' || *p == ',') {
				p++;
				if (*p < '0' || *p > '9')
					return -1;
				for (; *p >= '0' && *p <= '9'; p++)
					if (scale > 1) {
						scale /= 10;
						frac += (*p - '0') * scale;
					}
			}
		}
		if (h > 24 || mi > 59 || se > 60 || (h == 24 &&
		    (mi != 0 || se != 0 || frac != 0)))
			return -1;
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			sign = *p++ == '-' ? -1 : 1;
			if (digits(&p, 2, &oh) == -1)
				return -1;
			if (*p == ':')
				p++;
			if (digits(&p, 2, &om) == -1)
				return -1;
			if (oh > 23 || om > 59)
				return -1;
		}
	}
	if (*p != '\0')
		return -1;
	v = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
	    h * 3600 + mi * 60 + se;
	v -= (int64_t)sign * (oh * 3600 + om * 60);
	*sec = v;
	*nsec = (int32_t)frac;
	return 0;
}

static int
date_cmp(int64_t as, int32_t an, int64_t bs, int32_t bn)
{
	if (as != bs)
		return as < bs ? -1 : 1;
	if (an != bn)
		return an < bn ? -1 : 1;
	return 0;
}

/* Base64 (standard alphabet, padding optional). */
static int
b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int
b64_decode(const char *s, unsigned char *out, size_t cap, size_t *outlen)
{
	size_t n = strlen(s), i, o = 0;
	unsigned acc = 0;
	int bits = 0, v;

	while (n > 0 && s[n - 1] == '=')
		n--;
	if (strlen(s) - n > 2 || n % 4 == 1)
		return -1;
	for (i = 0; i < n; i++) {
		if ((v = b64val(s[i])) < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= cap)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	*outlen = o;
	return 0;
}

/* An address or CIDR: the address, its family and prefix. */
static int
parse_ip(const char *s, int cidr, int *family, unsigned char addr[16],
    int *prefix)
{
	char buf[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t n = slash != NULL ? (size_t)(slash - s) : strlen(s);
	int fam, max, pfx = 0;
	const char *p;

	if (n == 0 || n >= sizeof(buf) || (slash != NULL && !cidr))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(addr, 0, 16);
	if (strchr(buf, ':') != NULL) {
		fam = AF_INET6;
		max = 128;
	} else {
		fam = AF_INET;
		max = 32;
	}
	if (inet_pton(fam, buf, addr) != 1)
		return -1;
	if (slash != NULL) {
		p = slash + 1;
		if (*p == '\0' || strlen(p) > 3)
			return -1;
		for (; *p != '\0'; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			pfx = pfx * 10 + (*p - '0');
		}
		if (pfx > max)
			return -1;
	} else {
		pfx = max;
	}
	*family = fam;
	*prefix = pfx;
	return 0;
}

static int
ip_in(const struct policy_cvalue *v, int fam, const unsigned char a[16])
{
	int full, rest;

	if (fam != v->family)
		return 0;
	full = v->prefix / 8;
	rest = v->prefix % 8;
	if (memcmp(a, v->addr, (size_t)full) != 0)
		return 0;
	if (rest != 0) {
		unsigned char mask = (unsigned char)(0xff << (8 - rest));

		if ((a[full] & mask) != (v->addr[full] & mask))
			return 0;
	}
	return 1;
}

static int
parse_bool(const char *s, int *b)
{
	if (strcasecmp(s, "true") == 0)
		*b = 1;
	else if (strcasecmp(s, "false") == 0)
		*b = 0;
	else
		return -1;
	return 0;
}

/*
 * Parse one policy value of operator `op`. Values that do not parse (a bad
 * number, date, IP...) load with ok = 0 and never match: that is a lint
 * warning, not an error. Errors: a variable under an operator that does not
 * take them, a Null value other than true/false, a malformed variable.
 */
int
policy_cond_parse_value(struct policy_arena *a, enum policy_cop op,
    const char *s, int vars, struct policy_cvalue *v, struct err *e)
{
	struct dec d;
	unsigned char tmp[4096];
	size_t n;

	memset(v, 0, sizeof(*v));
	if (policy_cop_allows_vars(op)) {
		if (policy_tmpl_parse(a, s, vars, &v->t, e) == -1)
			return -1;
		v->ok = 1;
		return 0;
	}
	if (policy_tmpl_has_vars(s)) {
		err_set(e, "policy variable in \"%.80s\" under an operator "
		    "that does not take variables", s);
		return -1;
	}
	switch (op) {
	case COP_NUMERIC_EQ:
	case COP_NUMERIC_NE:
	case COP_NUMERIC_LT:
	case COP_NUMERIC_LE:
	case COP_NUMERIC_GT:
	case COP_NUMERIC_GE:
		if (parse_dec(s, &d) == 0) {
			v->neg = d.neg;
			v->ipart = policy_arena_strndup(a, d.ip, d.il);
			v->ilen = d.il;
			v->fpart = policy_arena_strndup(a, d.fp, d.fl);
			v->flen = d.fl;
			if (v->ipart == NULL || v->fpart == NULL)
				goto nomem;
			v->ok = 1;
		}
		break;
	case COP_DATE_EQ:
	case COP_DATE_NE:
	case COP_DATE_LT:
	case COP_DATE_LE:
	case COP_DATE_GT:
	case COP_DATE_GE:
		v->ok = parse_date(s, &v->sec, &v->nsec) == 0;
		break;
	case COP_BOOL:
		v->ok = parse_bool(s, &v->b) == 0;
		break;
	case COP_BINARY_EQUALS:
		if (b64_decode(s, tmp, sizeof(tmp), &n) == 0) {
			if ((v->bytes = policy_arena_alloc(a, n + 1)) == NULL)
				goto nomem;
			memcpy(v->bytes, tmp, n);
			v->nbytes = n;
			v->ok = 1;
		}
		break;
	case COP_IP:
	case COP_NOT_IP:
		v->ok = parse_ip(s, 1, &v->family, v->addr, &v->prefix) == 0;
		break;
	case COP_NULL:
		if (parse_bool(s, &v->b) == -1) {
			err_set(e, "Null takes \"true\" or \"false\", not "
			    "\"%.80s\"", s);
			return -1;
		}
		v->ok = 1;
		break;
	default:
		break;
	}
	return 0;
nomem:
	err_set(e, "out of memory");
	return -1;
}

/* Split an ARN (in glob form when `esc`) into its six components. */
static int
arn_split(const char *s, int esc, const char *c[6], size_t l[6])
{
	const char *p = s, *start = s;
	int i = 0;

	while (*p != '\0' && i < 5) {
		if (esc && *p == POLICY_GLOB_ESC && p[1] != '\0') {
			p += 2;
			continue;
		}
		if (*p == ':') {
			c[i] = start;
			l[i] = (size_t)(p - start);
			i++;
			start = p + 1;
		}
		p++;
	}
	if (i < 5)
		return -1;
	c[5] = start;
	l[5] = strlen(start);
	return 0;
}

static int
arn_like(const char *pat, const char *s)
{
	const char *pc[6], *sc[6];
	size_t pl[6], sl[6];
	int i;

	if (strcmp(pat, "*") == 0)
		return 1;
	if (arn_split(pat, 1, pc, pl) == -1 || arn_split(s, 0, sc, sl) == -1)
		return 0;
	for (i = 0; i < 6; i++)
		if (!policy_glob_n(pc[i], pl[i], sc[i], sl[i], 0))
			return 0;
	return 1;
}

/* String and ARN families: expand the value, then compare. */
static int
match_str(enum policy_cop op, const struct policy_cvalue *v, const char *s,
    const json_t *ctx)
{
	char stackbuf[1024], *buf = stackbuf, *heap = NULL;
	size_t need = 0;
	int glob, r, m = 0;

	glob = op == COP_STRING_LIKE || op == COP_STRING_NOT_LIKE ||
	    op == COP_ARN_LIKE || op == COP_ARN_NOT_LIKE;
	r = policy_tmpl_expand(&v->t, ctx, glob, buf, sizeof(stackbuf), &need);
	if (r == 2) {
		if ((heap = malloc(need + 1)) == NULL)
			return 0;
		buf = heap;
		r = policy_tmpl_expand(&v->t, ctx, glob, buf, need + 1, &need);
	}
	if (r != 0)
		goto out;	/* unresolved: nothing equals or is like it */
	switch (op) {
	case COP_STRING_EQUALS:
	case COP_STRING_NOT_EQUALS:
		m = strcmp(buf, s) == 0;
		break;
	case COP_STRING_EQUALS_IC:
	case COP_STRING_NOT_EQUALS_IC:
		m = strcasecmp(buf, s) == 0;
		break;
	case COP_STRING_LIKE:
	case COP_STRING_NOT_LIKE:
		m = policy_glob(buf, s, 0);
		break;
	default:
		m = arn_like(buf, s);
		break;
	}
out:
	free(heap);
	return m;
}

/* Does the single request value `s` satisfy the positive form of `c`? */
static int
positive(const struct policy_cond *c, const char *s, const json_t *ctx)
{
	const struct policy_cvalue *v;
	struct dec d, pd;
	int64_t sec = 0;
	int32_t nsec = 0;
	unsigned char addr[16], stackb[512], *bytes = stackb, *heap = NULL;
	size_t i, n = 0;
	int fam = 0, pfx = 0, b = 0, cmp, m = 0;

	switch (c->op) {
	case COP_NUMERIC_EQ:
	case COP_NUMERIC_NE:
	case COP_NUMERIC_LT:
	case COP_NUMERIC_LE:
	case COP_NUMERIC_GT:
	case COP_NUMERIC_GE:
		if (parse_dec(s, &d) == -1)
			return 0;
		break;
	case COP_DATE_EQ:
	case COP_DATE_NE:
	case COP_DATE_LT:
	case COP_DATE_LE:
	case COP_DATE_GT:
	case COP_DATE_GE:
		if (parse_date(s, &sec, &nsec) == -1)
			return 0;
		break;
	case COP_BOOL:
		if (parse_bool(s, &b) == -1)
			return 0;
		break;
	case COP_IP:
	case COP_NOT_IP:
		if (parse_ip(s, 0, &fam, addr, &pfx) == -1)
			return 0;
		break;
	case COP_BINARY_EQUALS:
		n = strlen(s);
		if (n > sizeof(stackb)) {
			if ((heap = malloc(n)) == NULL)
				return 0;
			bytes = heap;
		}
		if (b64_decode(s, bytes, n > sizeof(stackb) ? n :
		    sizeof(stackb), &n) == -1)
			goto out;
		break;
	default:
		break;
	}
	for (i = 0; i < c->nvals && !m; i++) {
		v = &c->vals[i];
		if (!v->ok)
			continue;
		switch (c->op) {
		case COP_NUMERIC_EQ:
		case COP_NUMERIC_NE:
		case COP_NUMERIC_LT:
		case COP_NUMERIC_LE:
		case COP_NUMERIC_GT:
		case COP_NUMERIC_GE:
			pd.neg = v->neg;
			pd.ip = v->ipart;
			pd.il = v->ilen;
			pd.fp = v->fpart;
			pd.fl = v->flen;
			cmp = dec_cmp(&d, &pd);
			goto order;
		case COP_DATE_EQ:
		case COP_DATE_NE:
		case COP_DATE_LT:
		case COP_DATE_LE:
		case COP_DATE_GT:
		case COP_DATE_GE:
			cmp = date_cmp(sec, nsec, v->sec, v->nsec);
order:
			switch (c->op) {
			case COP_NUMERIC_LT:
			case COP_DATE_LT:
				m = cmp < 0;
				break;
			case COP_NUMERIC_LE:
			case COP_DATE_LE:
				m = cmp <= 0;
				break;
			case COP_NUMERIC_GT:
			case COP_DATE_GT:
				m = cmp > 0;
				break;
			case COP_NUMERIC_GE:
			case COP_DATE_GE:
				m = cmp >= 0;
				break;
			default:
				m = cmp == 0;
				break;
			}
			break;
		case COP_BOOL:
			m = b == v->b;
			break;
		case COP_IP:
		case COP_NOT_IP:
			m = ip_in(v, fam, addr);
			break;
		case COP_BINARY_EQUALS:
			m = n == v->nbytes && memcmp(bytes, v->bytes, n) == 0;
			break;
		case COP_NULL:
			break;
		default:
			m = match_str(c->op, v, s, ctx);
			break;
		}
	}
out:
	free(heap);
	return m;
}

/* One request value against the operator, negation included. */
static int
single(const struct policy_cond *c, const char *s, const json_t *ctx)
{
	int m = positive(c, s, ctx);

	return cop_negated(c->op) ? !m : m;
}

/*
 * Evaluate one condition (one operator, one key) against `ctx`.
 */
int
policy_cond_eval(const struct policy_cond *c, const json_t *ctx)
{
	const json_t *v = policy_ctx_get(ctx, c->key), *x;
	size_t i, n;
	int r;

	if (c->op == COP_NULL) {
		if (c->set == CSET_ALL)
			return 1;
		if (c->set == CSET_ANY)
			return 0;
		for (i = 0; i < c->nvals; i++)
			if (c->vals[i].b == (v == NULL))
				return 1;
		return 0;
	}
	if (c->set == CSET_NONE) {
		if (v == NULL)
			return c->ifexists || cop_negated(c->op);
		/* A plain operator on a multi-valued key: no match. */
		if (!json_is_string(v))
			return 0;
		return single(c, json_string_value(v), ctx);
	}
	if (v == NULL || (json_is_array(v) && json_array_size(v) == 0))
		return c->set == CSET_ALL;
	if (json_is_string(v))
		return single(c, json_string_value(v), ctx);
	if (!json_is_array(v))
		return 0;
	n = json_array_size(v);
	for (i = 0; i < n; i++) {
		x = json_array_get(v, i);
		r = json_is_string(x) && single(c, json_string_value(x), ctx);
		if (c->set == CSET_ALL && !r)
			return 0;
		if (c->set == CSET_ANY && r)
			return 1;
	}
	return c->set == CSET_ALL;
}
