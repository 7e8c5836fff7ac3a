/* The pending segment: a skip list of (key, seq) -> value whose nodes live in an arena, so an insert
 * costs two bump allocations and a few pointer stores, and freeing the whole table is a walk over a
 * short list of chunks.
 *
 * Notes on the design:
 *  1. Order is (key bytewise ascending, seq descending). The first node >= (key, max_seq) is therefore
 *     the newest version of key a reader at max_seq may see, if its key matches.
 *  2. A node is one allocation from the node arena: the fixed header, `height` next pointers, then
 *     the key bytes. The content type and value bytes go to a separate value arena, so the nodes a
 *     search walks through stay dense in memory (fewer cache and TLB misses per level). A value above
 *     MT_BIG_VALUE_BYTES gets a block of its own on the same list.
 *  3. Nothing in a node changes after it is linked. The single writer fills a node, sets its next
 *     pointers with relaxed stores (nobody can see the node yet) and then publishes it bottom level
 *     first with release stores into its predecessors. Readers load next pointers with acquire, so
 *     everything the writer wrote into a node and its value happens-before a reader dereferences it.
 *  4. A reader may see a node at level 0 before the upper levels link it; searches only need each
 *     level to be a sorted sub-list of the level below, which holds at every instant.
 *  5. max_height only grows; a reader that sees a stale (lower) value searches fewer levels, and one
 *     that sees a new value before the head's upper pointers are set finds NULL there and drops down.
 *  6. The counters (bytes, count, min/max seq) are written by the writer only, with relaxed atomics,
 *     so any thread may read them; they are statistics, not synchronisation.
 *  7. The arenas are only touched by the writer and freed at the last unref; readers hold references.
 */
#include "memtable.h"

#include "error.h"

#include <stdatomic.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>
#include <sys/mman.h>

#define MT_MAX_HEIGHT 12
/* Values larger than this get a block of their own instead of sharing a chunk. */
#define MT_BIG_VALUE_BYTES (256u * 1024)
/* A memtable whose large values add up to this much trims the heap when it is freed. */
#define MT_TRIM_BYTES (16u << 20)
#define MT_FIRST_CHUNK_BYTES (64u * 1024)
/* Full-size chunks are one 2 MiB huge page where the kernel allows it (fewer TLB misses). */
#define MT_MAX_CHUNK_BYTES (2u * 1024 * 1024)

typedef struct mt_node {
    uint64_t seq_type;    /* seq << 8 | type: 8 bytes a million entries do not spend twice */
    uint64_t write_ms;    /* the entry's write time; 0 unknown */
    const uint8_t *value; /* content type bytes, then value bytes; in the value arena */
    uint32_t value_len;
    uint16_t key_len; /* keys are at most FLOE_MAX_KEY_BYTES */
    uint8_t content_type_len;
    uint8_t height;
    /* height entries, then the key bytes */
    _Atomic(struct mt_node *) next[];
} mt_node;

_Static_assert(sizeof(mt_node) == 32, "memtable node header should stay compact");
_Static_assert(FLOE_MAX_KEY_BYTES <= UINT16_MAX, "key lengths fit the node's u16");
/* Sequence numbers share a word with the type. */
#define MT_MAX_SEQ ((UINT64_C(1) << 56) - 1)

static inline uint64_t node_seq(const mt_node *n)
{
    return n->seq_type >> 8;
}

static inline uint8_t node_type(const mt_node *n)
{
    return (uint8_t)n->seq_type;
}

/* A block of arena memory: a chunk that allocations are carved from, or one big allocation. */
typedef struct mt_block {
    struct mt_block *next;
    size_t size;
    _Alignas(16) unsigned char data[];
} mt_block;

/* A bump allocator over chunks that grow from MT_FIRST_CHUNK_BYTES to MT_MAX_CHUNK_BYTES. */
typedef struct mt_arena {
    unsigned char *ptr;
    size_t left;
    size_t next_chunk_bytes;
} mt_arena;

struct memtable {
    _Atomic int refs;
    _Atomic int max_height;
    mt_node *head; /* a full-height node with no key; never compared */
    /* Owned by the writer (note 7): both arenas share one list of blocks. */
    mt_block *blocks;
    mt_arena nodes;
    mt_arena values;
    uint64_t rng;
    /* Statistics, see note 6. */
    _Atomic uint64_t bytes;
    _Atomic uint64_t count;
    _Atomic uint64_t min_seq;
    _Atomic uint64_t max_seq;
};

struct memtable_iter {
    memtable_t *m;
    const mt_node *node;
};

static inline const uint8_t *node_key(const mt_node *n)
{
    return (const uint8_t *)&n->next[n->height];
}

/* Returns <0, 0, >0 as node n sorts before, equal to, or after (key, seq). */
static inline int node_cmp(const mt_node *n, const uint8_t *key, size_t key_len, uint64_t seq)
{
    size_t min_len = n->key_len < key_len ? n->key_len : key_len;
    int c = memcmp(node_key(n), key, min_len);
    if (c != 0)
        return c;
    if (n->key_len != key_len)
        return n->key_len < key_len ? -1 : 1;
    if (node_seq(n) != seq)
        return node_seq(n) > seq ? -1 : 1; /* newer sorts first */
    return 0;
}

/* Returns the first node >= (key, seq), or NULL. If prev is not NULL, fills prev[level] with the last
 * node before the target at every level below the current height. */
static mt_node *find_ge(const memtable_t *m, const uint8_t *key, size_t key_len, uint64_t seq, mt_node **prev)
{
    mt_node *x = m->head;
    const mt_node *known_not_before = NULL; /* skips re-comparing the same node on the next level */
    int level = atomic_load_explicit(&m->max_height, memory_order_relaxed) - 1;
    for (;;) {
        mt_node *next = atomic_load_explicit(&x->next[level], memory_order_acquire);
        if (next && next != known_not_before) {
            /* the node after next is where we go if next sorts before the target */
            __builtin_prefetch(atomic_load_explicit(&next->next[level], memory_order_relaxed));
            if (node_cmp(next, key, key_len, seq) < 0) {
                x = next;
                continue;
            }
        }
        if (prev)
            prev[level] = x;
        if (level == 0)
            return next;
        known_not_before = next;
        level--;
    }
}

/* Allocates a block with size usable bytes and puts it on m's list; NULL when out of memory. */
static void *new_block(memtable_t *m, size_t size)
{
    mt_block *b;
    size_t total = sizeof *b + size;
    if (total == MT_MAX_CHUNK_BYTES) {
        void *p = NULL;
        if (posix_memalign(&p, MT_MAX_CHUNK_BYTES, total) != 0)
            return NULL;
#ifdef MADV_HUGEPAGE
        (void)madvise(p, total, MADV_HUGEPAGE); /* only a hint: without it the chunk works the same */
#endif
        b = p;
    } else {
        b = malloc(total);
        if (!b)
            return NULL;
    }
    b->size = size;
    b->next = m->blocks;
    m->blocks = b;
    return b->data;
}

/* Returns size bytes aligned to 8 from arena a, or NULL when out of memory. An allocation larger
 * than a quarter of a chunk gets a block of its own, so switching chunks wastes at most a quarter. */
static void *arena_alloc(memtable_t *m, mt_arena *a, size_t size)
{
    size = (size + 7) & ~(size_t)7;
    if (size > a->left) {
        size_t chunk = a->next_chunk_bytes - sizeof(mt_block);
        if (size > chunk / 4)
            return new_block(m, size);
        unsigned char *p = new_block(m, chunk);
        if (!p)
            return NULL;
        a->ptr = p;
        a->left = chunk;
        if (a->next_chunk_bytes < MT_MAX_CHUNK_BYTES)
            a->next_chunk_bytes *= 2;
    }
    void *out = a->ptr;
    a->ptr += size;
    a->left -= size;
    return out;
}

/* xorshift64*: a cheap generator for node heights, used by the writer only. */
static int random_height(memtable_t *m)
{
    uint64_t x = m->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    m->rng = x;
    uint64_t r = x * 0x2545F4914F6CDD1Dull;
    int h = 1;
    /* p = 1/4 per extra level: two fresh bits per step, from the high end where bits are best */
    while (h < MT_MAX_HEIGHT && (r >> 62) == 0) {
        h++;
        r <<= 2;
    }
    return h;
}

int memtable_create(memtable_t **out)
{
    memtable_t *m = calloc(1, sizeof *m);
    if (!m)
        return err_set(FLOE_ENOMEM, "memtable: out of memory creating the pending segment");
    size_t head_bytes = sizeof(mt_node) + MT_MAX_HEIGHT * sizeof(_Atomic(mt_node *));
    m->head = calloc(1, head_bytes);
    if (!m->head) {
        free(m);
        return err_set(FLOE_ENOMEM, "memtable: out of memory creating the pending segment");
    }
    m->head->height = MT_MAX_HEIGHT;
    for (int i = 0; i < MT_MAX_HEIGHT; i++)
        atomic_init(&m->head->next[i], NULL);
    atomic_init(&m->refs, 1);
    atomic_init(&m->max_height, 1);
    atomic_init(&m->bytes, 0);
    atomic_init(&m->count, 0);
    atomic_init(&m->min_seq, 0);
    atomic_init(&m->max_seq, 0);
    m->nodes.next_chunk_bytes = MT_FIRST_CHUNK_BYTES;
    m->values.next_chunk_bytes = MT_FIRST_CHUNK_BYTES;
    /* xorshift needs a nonzero seed; mixing in the address varies heights between memtables. */
    m->rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)m;
    if (m->rng == 0)
        m->rng = 1;
    *out = m;
    return 0;
}

void memtable_ref(memtable_t *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void memtable_unref(memtable_t *m)
{
    if (!m)
        return;
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    mt_block *b = m->blocks;
    size_t big = 0;
    while (b) {
        mt_block *next = b->next;
        big += b->size > MT_BIG_VALUE_BYTES ? b->size : 0;
        free(b);
        b = next;
    }
    free(m->head);
    free(m);
#ifdef __GLIBC__
    /* glibc keeps freed blocks of large values (the chunks of big objects: 8 MiB each) resident
     * for reuse; a memtable's worth of them is given back to the system at once. */
    if (big >= MT_TRIM_BYTES)
        malloc_trim(0);
#endif
}

int memtable_add(memtable_t *m, const entry *e)
{
    if (e->type != ENTRY_PUT && e->type != ENTRY_DELETE && e->type != ENTRY_OBJECT)
        return err_set(FLOE_EINVAL, "memtable: entry type %u is neither put, object nor delete", (unsigned)e->type);
    if (e->key_len > FLOE_MAX_KEY_BYTES)
        return err_set(FLOE_EINVAL, "memtable: key of %u bytes is longer than %d", e->key_len,
                       FLOE_MAX_KEY_BYTES);
    if (e->seq > MT_MAX_SEQ)
        return err_set(FLOE_EINVAL,
                       "memtable: sequence number %llu is above the largest a node holds (2^56-1)",
                       (unsigned long long)e->seq);
    uint32_t ct_len = e->content_type ? e->content_type_len : 0;
    if (ct_len > FLOE_MAX_CONTENT_TYPE_BYTES)
        return err_set(FLOE_EINVAL, "memtable: content type is %u bytes, more than the limit of %d", ct_len,
                       FLOE_MAX_CONTENT_TYPE_BYTES);

    /* Copy the value first; a failure later leaves nothing linked (the arena keeps what it took). */
    size_t value_bytes = (size_t)ct_len + e->value_len;
    uint8_t *v = NULL;
    if (value_bytes) {
        v = e->value_len > MT_BIG_VALUE_BYTES ? new_block(m, value_bytes)
                                              : arena_alloc(m, &m->values, value_bytes);
        if (!v)
            return err_set(FLOE_ENOMEM, "memtable: out of memory for a %u-byte value", e->value_len);
        if (ct_len)
            memcpy(v, e->content_type, ct_len);
        if (e->value_len)
            memcpy(v + ct_len, e->value, e->value_len);
    }
    int height = random_height(m);
    size_t node_bytes = sizeof(mt_node) + (size_t)height * sizeof(_Atomic(mt_node *)) + e->key_len;
    mt_node *n = arena_alloc(m, &m->nodes, node_bytes);
    if (!n)
        return err_set(FLOE_ENOMEM, "memtable: out of memory for a %u-byte key", e->key_len);
    n->seq_type = e->seq << 8 | e->type;
    n->write_ms = e->write_ms;
    n->value = v;
    n->key_len = (uint16_t)e->key_len;
    n->value_len = e->value_len;
    n->content_type_len = (uint8_t)ct_len;
    n->height = (uint8_t)height;
    uint8_t *key = (uint8_t *)&n->next[height];
    if (e->key_len)
        memcpy(key, e->key, e->key_len);

    mt_node *prev[MT_MAX_HEIGHT];
    find_ge(m, key, n->key_len, e->seq, prev);
    int cur_height = atomic_load_explicit(&m->max_height, memory_order_relaxed);
    if (height > cur_height) {
        for (int i = cur_height; i < height; i++)
            prev[i] = m->head;
        atomic_store_explicit(&m->max_height, height, memory_order_relaxed);
    }
    for (int i = 0; i < height; i++) {
        mt_node *succ = atomic_load_explicit(&prev[i]->next[i], memory_order_relaxed);
        atomic_store_explicit(&n->next[i], succ, memory_order_relaxed);
        atomic_store_explicit(&prev[i]->next[i], n, memory_order_release);
    }

    uint64_t charged = ((node_bytes + 7) & ~(uint64_t)7) + ((value_bytes + 7) & ~(uint64_t)7);
    uint64_t count = atomic_load_explicit(&m->count, memory_order_relaxed);
    atomic_store_explicit(&m->bytes, atomic_load_explicit(&m->bytes, memory_order_relaxed) + charged,
                          memory_order_relaxed);
    atomic_store_explicit(&m->count, count + 1, memory_order_relaxed);
    if (count == 0 || e->seq < atomic_load_explicit(&m->min_seq, memory_order_relaxed))
        atomic_store_explicit(&m->min_seq, e->seq, memory_order_relaxed);
    if (count == 0 || e->seq > atomic_load_explicit(&m->max_seq, memory_order_relaxed))
        atomic_store_explicit(&m->max_seq, e->seq, memory_order_relaxed);
    return 0;
}

static void fill_entry(const mt_node *n, entry *out)
{
    out->key = node_key(n);
    out->key_len = n->key_len;
    /* an empty value still gets a valid address, so callers may memcpy from it */
    out->value = n->value ? n->value + n->content_type_len : (const uint8_t *)"";
    out->value_len = n->value_len;
    out->content_type = n->content_type_len ? (const char *)n->value : NULL;
    out->content_type_len = n->content_type_len;
    out->seq = node_seq(n);
    out->write_ms = n->write_ms;
    out->type = node_type(n);
}

int memtable_get(memtable_t *m, const void *key, size_t key_len, uint64_t max_seq, entry *out)
{
    const uint8_t *k = key_len ? key : (const uint8_t *)"";
    const mt_node *n = find_ge(m, k, key_len, max_seq, NULL);
    if (!n || n->key_len != key_len || memcmp(node_key(n), k, key_len) != 0)
        return 0;
    fill_entry(n, out);
    return 1;
}

uint64_t memtable_bytes(const memtable_t *m)
{
    return atomic_load_explicit(&m->bytes, memory_order_relaxed);
}

uint64_t memtable_count(const memtable_t *m)
{
    return atomic_load_explicit(&m->count, memory_order_relaxed);
}

uint64_t memtable_min_seq(const memtable_t *m)
{
    return atomic_load_explicit(&m->min_seq, memory_order_relaxed);
}

uint64_t memtable_max_seq(const memtable_t *m)
{
    return atomic_load_explicit(&m->max_seq, memory_order_relaxed);
}

/* A new iterator starts at the first entry, as if memtable_iter_seek(it, NULL, 0) had been called. */
int memtable_iter_create(memtable_t *m, memtable_iter **out)
{
    memtable_iter *it = malloc(sizeof *it);
    if (!it)
        return err_set(FLOE_ENOMEM, "memtable: out of memory creating an iterator");
    memtable_ref(m);
    it->m = m;
    it->node = atomic_load_explicit(&m->head->next[0], memory_order_acquire);
    *out = it;
    return 0;
}

void memtable_iter_destroy(memtable_iter *it)
{
    if (!it)
        return;
    memtable_unref(it->m);
    free(it);
}

void memtable_iter_seek(memtable_iter *it, const void *key, size_t key_len)
{
    if (!key) {
        it->node = atomic_load_explicit(&it->m->head->next[0], memory_order_acquire);
        return;
    }
    /* seq UINT64_MAX sorts before every version of key, so this lands on its newest. */
    it->node = find_ge(it->m, key_len ? key : (const uint8_t *)"", key_len, UINT64_MAX, NULL);
}

int memtable_iter_valid(const memtable_iter *it)
{
    return it->node != NULL;
}

void memtable_iter_next(memtable_iter *it)
{
    if (it->node)
        it->node = atomic_load_explicit(&it->node->next[0], memory_order_acquire);
}

void memtable_iter_entry(const memtable_iter *it, entry *out)
{
    fill_entry(it->node, out);
}
