/* The least-recently-used order, written once: an intrusive, circular, doubly linked list with a
 * sentinel, used by the lru.c caches (object cache, decoded blocks, cold metadata) and by the disk
 * block cache's index. The newest entry is next to the sentinel's `next`, the oldest at its `prev`.
 *
 * Threads: none of its own; the cache that owns a list guards it with its mutex. */
#ifndef FLOE_LRU_LIST_H
#define FLOE_LRU_LIST_H

#include <stddef.h>

typedef struct lru_link {
    struct lru_link *prev, *next;
} lru_link;

/* The struct of type that holds link as its member. */
#define LRU_LIST_ENTRY(link, type, member) ((type *)((char *)(link) - offsetof(type, member)))

/* Makes head an empty list. */
static inline void lru_list_init(lru_link *head)
{
    head->prev = head->next = head;
}

static inline int lru_list_empty(const lru_link *head)
{
    return head->next == head;
}

/* Takes e out of its list. */
static inline void lru_list_remove(lru_link *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->prev = e->next = NULL;
}

/* Puts e (not in a list) first, as the most recently used. */
static inline void lru_list_push_front(lru_link *head, lru_link *e)
{
    e->next = head->next;
    e->prev = head;
    head->next->prev = e;
    head->next = e;
}

/* Marks e, which is in head's list, as the most recently used. */
static inline void lru_list_touch(lru_link *head, lru_link *e)
{
    lru_list_remove(e);
    lru_list_push_front(head, e);
}

/* The least and the most recently used entries; NULL when the list is empty. */
static inline lru_link *lru_list_oldest(const lru_link *head)
{
    return head->prev == head ? NULL : head->prev;
}

static inline lru_link *lru_list_newest(const lru_link *head)
{
    return head->next == head ? NULL : head->next;
}

#endif
