/* floe put|get|rm|ls|stats: HTTP clients (libcurl) of a running floe serve at $FLOE_URL, with
 * $FLOE_TOKEN as the bearer token. Each prints one line on stderr and exits 1 when the server
 * answers with an error (its message and status) or cannot be reached. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "floe.h"

#define DEFAULT_URL "http://127.0.0.1:8080"
/* Answers other than object bodies (errors, list pages, stats) are read into memory up to this. */
#define MAX_ANSWER_BYTES (256u * 1024 * 1024)

/* One HTTP exchange. */
typedef struct exchange {
    const char *cmd; /* "floe get", for messages */
    const char *method;
    char url[8192];
    /* request body: from a FILE (in) of in_size bytes, or from memory (in_buf) */
    FILE *in;
    const char *in_buf;
    size_t in_len, in_off;
    long long in_size; /* -1: no body */
    const char *content_type;
    /* response body: 2xx bodies go to out when set, everything else to answer */
    FILE *out;
    int out_failed;
    buf_t answer;
    long status;
} exchange;

static const char *base_url(void)
{
    const char *u = getenv("FLOE_URL");
    return u && u[0] ? u : DEFAULT_URL;
}

/* Appends key to dst percent-encoded: everything but unreserved characters and '/'. */
static int append_encoded(char *dst, size_t cap, const char *key, size_t key_len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = strlen(dst);
    for (size_t i = 0; i < key_len; i++) {
        unsigned char c = (unsigned char)key[i];
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.' || c == '~' || c == '/';
        if (o + 4 >= cap)
            return -1;
        if (plain) {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '%';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        }
    }
    dst[o] = '\0';
    return 0;
}

/* Builds base + path + encoded key into x->url. */
static int build_url(exchange *x, const char *path, const char *key, size_t key_len)
{
    const char *base = base_url();
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    if (bl + strlen(path) + 1 > sizeof x->url) {
        fprintf(stderr, "%s: FLOE_URL is too long\n", x->cmd);
        return -1;
    }
    memcpy(x->url, base, bl);
    memcpy(x->url + bl, path, strlen(path) + 1);
    if (key && append_encoded(x->url, sizeof x->url, key, key_len) != 0) {
        fprintf(stderr, "%s: the key is too long for a URL (at most %d bytes)\n", x->cmd, FLOE_MAX_KEY_BYTES);
        return -1;
    }
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    exchange *x = userdata;
    size_t n = size * nmemb;
    if (x->out && x->status >= 200 && x->status < 300) {
        if (fwrite(data, 1, n, x->out) != n) {
            x->out_failed = errno ? errno : EIO;
            return 0;
        }
        return n;
    }
    (void)buf_append(&x->answer, data, n);
    return x->answer.failed ? 0 : n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    exchange *x = userdata;
    size_t n = size * nmemb;
    /* the status line of the final response; 100 Continue comes first and is replaced */
    if (n > 9 && strncmp(data, "HTTP/", 5) == 0) {
        const char *sp = memchr(data, ' ', n);
        if (sp)
            x->status = strtol(sp + 1, NULL, 10);
    }
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *userdata)
{
    exchange *x = userdata;
    size_t want = size * nitems;
    if (x->in)
        return fread(buf, 1, want, x->in);
    size_t left = x->in_len - x->in_off;
    if (want > left)
        want = left;
    memcpy(buf, x->in_buf + x->in_off, want);
    x->in_off += want;
    return want;
}

/* Prints the one-line error for a non-2xx answer. */
static void print_http_error(exchange *x)
{
    size_t len = 0;
    char *text = buf_take(&x->answer, &len);
    json_t *root = text ? json_loadb(text, len, 0, NULL) : NULL;
    json_t *err = root ? json_object_get(root, "error") : NULL;
    const char *code = err ? json_string_value(json_object_get(err, "code")) : NULL;
    const char *msg = err ? json_string_value(json_object_get(err, "message")) : NULL;
    if (code && msg)
        fprintf(stderr, "%s: %s (HTTP %ld %s, %s %s)\n", x->cmd, msg, x->status, code, x->method, x->url);
    else
        fprintf(stderr, "%s: the server answered HTTP %ld to %s %s\n", x->cmd, x->status, x->method, x->url);
    json_decref(root);
    free(text);
}

/* Runs the exchange. Returns 0 for a 2xx answer (its body went to x->out or x->answer), else 1
 * after printing the error line. */
static int perform(exchange *x)
{
    int ret = 1;
    struct curl_slist *headers = NULL;
    char auth[512];
    char ct[300];
    CURL *curl = curl_easy_init();
    if (!curl) {
        fprintf(stderr, "%s: cannot initialise libcurl\n", x->cmd);
        return 1;
    }
    const char *token = getenv("FLOE_TOKEN");
    if (token && token[0]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, auth);
    }
    if (x->content_type) {
        snprintf(ct, sizeof ct, "Content-Type: %s", x->content_type);
        headers = curl_slist_append(headers, ct);
    }
    curl_easy_setopt(curl, CURLOPT_URL, x->url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (strcmp(x->method, "PUT") == 0) {
        curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(curl, CURLOPT_READDATA, x);
        curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->in_size);
    } else if (strcmp(x->method, "GET") != 0) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, x->method);
    }
    CURLcode cc = curl_easy_perform(curl);
    if (x->status == 0)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &x->status);
    if (x->out_failed) {
        fprintf(stderr, "%s: cannot write the object: %s\n", x->cmd, strerror(x->out_failed));
    } else if (cc != CURLE_OK && (x->status < 200 || x->status >= 300 || x->status == 0) &&
               x->answer.failed) {
        fprintf(stderr, "%s: the answer from %s is larger than %u bytes\n", x->cmd, x->url, MAX_ANSWER_BYTES);
    } else if (cc != CURLE_OK && x->status == 0) {
        fprintf(stderr, "%s: cannot reach %s (set FLOE_URL): %s\n", x->cmd, x->url, curl_easy_strerror(cc));
    } else if (x->status < 200 || x->status >= 300) {
        print_http_error(x);
    } else if (cc != CURLE_OK) {
        fprintf(stderr, "%s: %s %s failed: %s\n", x->cmd, x->method, x->url, curl_easy_strerror(cc));
    } else {
        ret = 0;
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return ret;
}

static void exchange_init(exchange *x, const char *cmd, const char *method)
{
    memset(x, 0, sizeof *x);
    x->cmd = cmd;
    x->method = method;
    x->in_size = -1;
    buf_init(&x->answer, MAX_ANSWER_BYTES);
}

/* Reads all of f into memory (for pipes, whose size is unknown up front). */
static int slurp(const char *cmd, FILE *f, const char *name, char **out, size_t *len)
{
    buf_t b;
    buf_init(&b, FLOE_MAX_OBJECT_BYTES_LIMIT);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        (void)buf_append(&b, chunk, n);
    if (ferror(f)) {
        fprintf(stderr, "%s: cannot read %s: %s\n", cmd, name, strerror(errno));
        buf_free(&b);
        return -1;
    }
    if (b.failed) {
        fprintf(stderr, "%s: %s is larger than %llu bytes\n", cmd, name,
                (unsigned long long)FLOE_MAX_OBJECT_BYTES_LIMIT);
        buf_free(&b);
        return -1;
    }
    *out = buf_take(&b, len);
    return *out ? 0 : -1;
}

int cli_put(int argc, char **argv)
{
    const char *cmd = "floe put";
    const char *key = NULL, *file = NULL, *ctype = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--content-type") == 0 && i + 1 < argc)
            ctype = argv[++i];
        else if (strncmp(argv[i], "--content-type=", 15) == 0)
            ctype = argv[i] + 15;
        else if (!key)
            key = argv[i];
        else if (!file)
            file = argv[i];
        else
            key = NULL, i = argc;
    }
    if (!key || !key[0]) {
        fprintf(stderr, "usage: floe put KEY [FILE|-] [--content-type TYPE]   (reads stdin without FILE)\n");
        return 2;
    }
    exchange x;
    exchange_init(&x, cmd, "PUT");
    x.content_type = ctype;
    int ret = 1;
    FILE *f = NULL;
    char *buf = NULL;
    const char *name = file && strcmp(file, "-") != 0 ? file : "stdin";
    if (build_url(&x, "/v1/objects/", key, strlen(key)) != 0)
        goto out;
    if (file && strcmp(file, "-") != 0) {
        f = fopen(file, "rb");
        if (!f) {
            fprintf(stderr, "%s: cannot open %s: %s\n", cmd, file, strerror(errno));
            goto out;
        }
    }
    FILE *src = f ? f : stdin;
    struct stat st;
    if (fstat(fileno(src), &st) == 0 && S_ISREG(st.st_mode)) {
        off_t pos = ftello(src);
        x.in = src;
        x.in_size = (long long)(st.st_size - (pos > 0 ? pos : 0));
    } else {
        size_t len = 0;
        if (slurp(cmd, src, name, &buf, &len) != 0)
            goto out;
        x.in_buf = buf;
        x.in_len = len;
        x.in_size = (long long)len;
    }
    ret = perform(&x);
    if (ret == 0) {
        size_t len = 0;
        char *text = buf_take(&x.answer, &len);
        json_t *root = text ? json_loadb(text, len, 0, NULL) : NULL;
        json_t *seq = root ? json_object_get(root, "seq") : NULL;
        if (json_is_integer(seq))
            fprintf(stderr, "floe put: stored %s (%lld bytes, seq %lld)\n", key, x.in_size,
                    (long long)json_integer_value(seq));
        json_decref(root);
        free(text);
    }
out:
    if (f)
        fclose(f);
    free(buf);
    buf_free(&x.answer);
    return ret;
}

int cli_get(int argc, char **argv)
{
    const char *cmd = "floe get";
    const char *key = NULL, *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (!key)
            key = argv[i];
        else
            key = NULL, i = argc;
    }
    if (!key || !key[0]) {
        fprintf(stderr, "usage: floe get KEY [-o FILE]   (writes to stdout without -o)\n");
        return 2;
    }
    exchange x;
    exchange_init(&x, cmd, "GET");
    int ret = 1;
    char tmp[4200] = "";
    if (build_url(&x, "/v1/objects/", key, strlen(key)) != 0)
        goto out;
    if (file && strcmp(file, "-") != 0) {
        /* write next to the target and rename, so a failed get never clobbers an existing file */
        if (snprintf(tmp, sizeof tmp, "%s.floe-partial", file) >= (int)sizeof tmp) {
            fprintf(stderr, "%s: output path is too long\n", cmd);
            goto out;
        }
        x.out = fopen(tmp, "wb");
        if (!x.out) {
            fprintf(stderr, "%s: cannot create %s: %s\n", cmd, tmp, strerror(errno));
            goto out;
        }
    } else {
        x.out = stdout;
    }
    ret = perform(&x);
    if (x.out != stdout) {
        if (fclose(x.out) != 0 && ret == 0) {
            fprintf(stderr, "%s: cannot write %s: %s\n", cmd, tmp, strerror(errno));
            ret = 1;
        }
        if (ret == 0 && rename(tmp, file) != 0) {
            fprintf(stderr, "%s: cannot rename %s to %s: %s\n", cmd, tmp, file, strerror(errno));
            ret = 1;
        }
        if (ret != 0)
            unlink(tmp);
    } else if (fflush(stdout) != 0 && ret == 0) {
        fprintf(stderr, "%s: cannot write to stdout: %s\n", cmd, strerror(errno));
        ret = 1;
    }
out:
    buf_free(&x.answer);
    return ret;
}

int cli_rm(int argc, char **argv)
{
    if (argc != 2 || !argv[1][0]) {
        fprintf(stderr, "usage: floe rm KEY\n");
        return 2;
    }
    exchange x;
    exchange_init(&x, "floe rm", "DELETE");
    int ret = 1;
    if (build_url(&x, "/v1/objects/", argv[1], strlen(argv[1])) == 0)
        ret = perform(&x);
    buf_free(&x.answer);
    return ret;
}

/* Appends "&name=" plus the percent-encoded value to url. */
static int append_param(char *url, size_t cap, const char *name, const char *v, size_t len)
{
    size_t ul = strlen(url);
    if (ul + strlen(name) + 3 >= cap)
        return -1;
    snprintf(url + ul, cap - ul, "%s%s=", strchr(url, '?') ? "&" : "?", name);
    return append_encoded(url, cap, v, len);
}

/* The bytes of a key the server sent in base64 (keys that are not UTF-8). Returns malloc'd bytes or
 * NULL if s is not valid base64. */
static char *b64_decode(const char *s, size_t *len)
{
    size_t n = strlen(s);
    if (n == 0 || n % 4 != 0 || n > 4 * ((FLOE_MAX_KEY_BYTES + 2) / 3))
        return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    if (!out)
        return NULL;
    int got = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
    if (got < 0) {
        free(out);
        return NULL;
    }
    size_t pad = (s[n - 1] == '=') + (s[n - 2] == '=');
    *len = (size_t)got - pad;
    out[*len] = '\0';
    return (char *)out;
}

/* A list entry's key, or the cursor: field as a JSON string, or field_base64. malloc'd. */
static char *entry_key(json_t *obj, const char *field, size_t *len)
{
    json_t *k = json_object_get(obj, field);
    if (json_is_string(k)) {
        *len = json_string_length(k);
        char *out = malloc(*len + 1);
        if (out)
            memcpy(out, json_string_value(k), *len + 1);
        return out;
    }
    char name[64];
    snprintf(name, sizeof name, "%s_base64", field);
    k = json_object_get(obj, name);
    return json_is_string(k) ? b64_decode(json_string_value(k), len) : NULL;
}

int cli_ls(int argc, char **argv)
{
    const char *cmd = "floe ls";
    if (argc > 2) {
        fprintf(stderr, "usage: floe ls [PREFIX]   (prints KEY<TAB>SIZE per line, every page)\n");
        return 2;
    }
    const char *prefix = argc == 2 ? argv[1] : "";
    char *after = NULL;
    size_t after_len = 0;
    int ret = 0;
    for (;;) {
        exchange x;
        exchange_init(&x, cmd, "GET");
        if (build_url(&x, "/v1/objects", NULL, 0) != 0 ||
            append_param(x.url, sizeof x.url, "prefix", prefix, strlen(prefix)) != 0 ||
            (after && append_param(x.url, sizeof x.url, "start_after", after, after_len) != 0)) {
            fprintf(stderr, "%s: the URL is too long\n", cmd);
            buf_free(&x.answer);
            ret = 1;
            break;
        }
        ret = perform(&x);
        size_t len = 0;
        char *text = ret == 0 ? buf_take(&x.answer, &len) : NULL;
        buf_free(&x.answer);
        if (ret != 0)
            break;
        json_error_t jerr;
        json_t *root = text ? json_loadb(text, len, 0, &jerr) : NULL;
        free(text);
        json_t *keys = root ? json_object_get(root, "keys") : NULL;
        if (!json_is_array(keys)) {
            fprintf(stderr, "%s: the server's answer to %s is not a key list\n", cmd, x.url);
            json_decref(root);
            ret = 1;
            break;
        }
        size_t i;
        json_t *e;
        json_array_foreach(keys, i, e)
        {
            size_t klen = 0;
            char *k = entry_key(e, "key", &klen);
            if (!k) {
                fprintf(stderr, "%s: the server's answer to %s has an entry without a key\n", cmd, x.url);
                ret = 1;
                break;
            }
            fwrite(k, 1, klen, stdout);
            printf("\t%lld\n", (long long)json_integer_value(json_object_get(e, "size")));
            free(k);
        }
        free(after);
        after = NULL;
        if (ret == 0 && json_is_true(json_object_get(root, "truncated"))) {
            after = entry_key(root, "next_start_after", &after_len);
            if (!after) {
                fprintf(stderr, "%s: a truncated page from %s has no next_start_after\n", cmd, x.url);
                ret = 1;
            }
        }
        json_decref(root);
        if (!after)
            break;
    }
    free(after);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "%s: cannot write to stdout: %s\n", cmd, strerror(errno));
        ret = 1;
    }
    return ret;
}

int cli_stats(int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "usage: floe stats\n");
        return 2;
    }
    exchange x;
    exchange_init(&x, "floe stats", "GET");
    int ret = 1;
    if (build_url(&x, "/v1/stats", NULL, 0) == 0)
        ret = perform(&x);
    if (ret == 0) {
        size_t len = 0;
        char *text = buf_take(&x.answer, &len);
        json_t *root = text ? json_loadb(text, len, 0, NULL) : NULL;
        char *pretty = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        if (pretty) {
            printf("%s\n", pretty);
        } else {
            fprintf(stderr, "floe stats: the server's answer is not JSON\n");
            ret = 1;
        }
        free(pretty);
        json_decref(root);
        free(text);
    }
    buf_free(&x.answer);
    return ret;
}
