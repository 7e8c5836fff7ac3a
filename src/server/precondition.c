/* Conditional requests (RFC 9110 section 13): the If-Match, If-None-Match, If-Modified-Since,
 * If-Unmodified-Since and If-Range headers, read as plain strings and evaluated against the current
 * representation's ETag and modification time. routes.c evaluates them for GET and HEAD on the
 * parsing thread, http.c for PUT and DELETE inside the write job (under the key's stripe lock).
 *
 * Invariants:
 * 1. Nothing here knows what an ETag looks like inside its quotes: entity-tags are compared as the
 *    opaque strings the server sent (quotes included), so a change of the ETag's format changes
 *    nothing here.
 * 2. Every parser reads a NUL-terminated string and nothing past it, and refuses rather than
 *    guesses: a date with anything after it, or a field that is not a date, is not a date (and the
 *    header is ignored, as the RFC says); an entity-tag without its closing quote matches nothing.
 * 3. Times are whole seconds since 1970-01-01 UTC, computed from the calendar without the C
 *    library's time zone or locale.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "http_parse.h"

static int is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

int http_etag_list_match(const char *h, const char *etag, int weak)
{
    size_t elen = etag ? strlen(etag) : 0;
    const char *p = h;
    while (*p) {
        while (is_ows(*p) || *p == ',')
            p++;
        if (!*p)
            break;
        if (*p == '*') {
            if (etag)
                return 1;
            p++;
            continue;
        }
        int is_weak = 0;
        if (p[0] == 'W' && p[1] == '/') {
            is_weak = 1;
            p += 2;
        }
        if (*p != '"') { /* not an entity-tag: skip this member */
            while (*p && *p != ',')
                p++;
            continue;
        }
        const char *close = strchr(p + 1, '"');
        if (!close)
            return 0;
        size_t n = (size_t)(close + 1 - p);
        if (etag && n == elen && memcmp(p, etag, n) == 0 && (weak || !is_weak))
            return 1;
        p = close + 1;
    }
    return 0;
}

/* Days from 1970-01-01 to year-month-day of the proleptic Gregorian calendar (month 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* Reads exactly n digits at *p into *out and advances *p. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char ch = (*p)[i];
        if (ch < '0' || ch > '9')
            return -1;
        v = v * 10 + (ch - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* Reads the literal lit (case-insensitively) at *p and advances *p. */
static int literal(const char **p, const char *lit)
{
    size_t n = strlen(lit);
    if (strncasecmp(*p, lit, n) != 0)
        return -1;
    *p += n;
    return 0;
}

/* Reads one of the n names (three letters each, case-insensitively); returns its index or -1. */
static int name3(const char **p, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strncasecmp(*p, names[i], 3) == 0) {
            *p += 3;
            return i;
        }
    return -1;
}

static const char *const day_names[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const day_names_long[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                              "Friday", "Saturday", "Sunday"};
static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* "HH:MM:SS" at *p. */
static int time_of_day(const char **p, int *hh, int *mm, int *ss)
{
    if (digits(p, 2, hh) || literal(p, ":") || digits(p, 2, mm) || literal(p, ":") || digits(p, 2, ss))
        return -1;
    return 0;
}

/* The year an RFC 850 two-digit year yy means: the one in this century, unless that is more than
 * 50 years after now, then the one a century before (RFC 9110 section 5.6.7). */
static int64_t rfc850_year(int yy, int64_t now_s)
{
    int64_t now_days = now_s >= 0 ? now_s / 86400 : (now_s - 86399) / 86400;
    /* the current year, from days since 1970, by the inverse of days_from_civil's era arithmetic */
    int64_t z = now_days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t year = yoe + era * 400 + (mp >= 10);
    int64_t y = year - year % 100 + yy;
    if (y > year + 50)
        y -= 100;
    return y;
}

int http_parse_date(const char *s, int64_t now_s, int64_t *out)
{
    const char *p = s;
    int day = 0, month = -1, hh = 0, mm = 0, ss = 0, year4 = 0;
    int64_t year = 0;
    while (is_ows(*p))
        p++;
    const char *start = p;
    if (name3(&p, day_names, 7) < 0)
        return -1;
    if (*p == ',') { /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
        p++;
        if (literal(&p, " ") || digits(&p, 2, &day) || literal(&p, " ") ||
            (month = name3(&p, month_names, 12)) < 0 || literal(&p, " ") || digits(&p, 4, &year4) ||
            literal(&p, " ") || time_of_day(&p, &hh, &mm, &ss) || literal(&p, " GMT"))
            return -1;
        year = year4;
    } else if (*p == ' ') { /* asctime: "Sun Nov  6 08:49:37 1994" */
        p++;
        if ((month = name3(&p, month_names, 12)) < 0 || literal(&p, " "))
            return -1;
        if (*p == ' ') {
            p++;
            if (digits(&p, 1, &day))
                return -1;
        } else if (digits(&p, 2, &day)) {
            return -1;
        }
        if (literal(&p, " ") || time_of_day(&p, &hh, &mm, &ss) || literal(&p, " ") || digits(&p, 4, &year4))
            return -1;
        year = year4;
    } else { /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
        p = start;
        int d = -1;
        for (int i = 0; i < 7 && d < 0; i++)
            if (literal(&p, day_names_long[i]) == 0)
                d = i;
        int yy = 0;
        if (d < 0 || literal(&p, ", ") || digits(&p, 2, &day) || literal(&p, "-") ||
            (month = name3(&p, month_names, 12)) < 0 || literal(&p, "-") || digits(&p, 2, &yy) ||
            literal(&p, " ") || time_of_day(&p, &hh, &mm, &ss) || literal(&p, " GMT"))
            return -1;
        year = rfc850_year(yy, now_s);
    }
    while (is_ows(*p))
        p++;
    if (*p)
        return -1;
    if (month < 0 || day < 1 || day > days_in_month(year, month + 1) || hh > 23 || mm > 59 || ss > 60)
        return -1;
    *out = days_from_civil(year, month + 1, day) * 86400 + hh * 3600 + mm * 60 + ss;
    return 0;
}

int http_if_range_allows(const char *h, const char *etag)
{
    while (is_ows(*h))
        h++;
    if (*h != '"') /* a date, or a weak tag: Last-Modified is a weak validator here (one second) */
        return 0;
    const char *close = strchr(h + 1, '"');
    if (!close)
        return 0;
    const char *end = close + 1;
    while (is_ows(*end))
        end++;
    size_t n = (size_t)(close + 1 - h);
    return *end == '\0' && etag && strlen(etag) == n && memcmp(h, etag, n) == 0;
}

enum http_precondition http_preconditions_evaluate(const struct http_conditions *h, const char *etag,
                                                   int64_t modified_s, int read, int64_t now_s,
                                                   const char **decided_by)
{
    int64_t date = 0;
    if (h->if_match) {
        if (!http_etag_list_match(h->if_match, etag, 0)) {
            *decided_by = "If-Match";
            return HTTP_PRECONDITION_FAILED;
        }
    } else if (h->if_unmodified_since && etag && modified_s >= 0 &&
               http_parse_date(h->if_unmodified_since, now_s, &date) == 0) {
        if (modified_s > date) {
            *decided_by = "If-Unmodified-Since";
            return HTTP_PRECONDITION_FAILED;
        }
    }
    if (h->if_none_match) {
        if (http_etag_list_match(h->if_none_match, etag, 1)) {
            *decided_by = "If-None-Match";
            return read ? HTTP_PRECONDITION_NOT_MODIFIED : HTTP_PRECONDITION_FAILED;
        }
    } else if (read && h->if_modified_since && etag && modified_s >= 0 &&
               http_parse_date(h->if_modified_since, now_s, &date) == 0) {
        if (modified_s <= date) {
            *decided_by = "If-Modified-Since";
            return HTTP_PRECONDITION_NOT_MODIFIED;
        }
    }
    return HTTP_PRECONDITION_PASS;
}
