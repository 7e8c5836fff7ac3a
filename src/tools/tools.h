/* The operator tools: floe restore, fsck, gc, manifest show and segment dump. They work on a data
 * directory and its cold tier without a running server (docs/operations.md), and are built as the
 * floe_tools library into the floe tool and the tests that call them, not into libfloe.
 *
 * Threads: each call uses its own state; a cold_t passed in may be shared (it is thread-safe). */
#ifndef FLOE_TOOLS_H
#define FLOE_TOOLS_H

#include <stdint.h>
#include <stdio.h>

#include "cold.h"

/* floe restore: rebuilds data_dir (which must be empty or missing; FLOE_EINVAL otherwise) from the
 * bucket alone: writes data_dir/manifest.json naming every segment of the newest remote manifest
 * in state SEG_REMOTE. progress (may be NULL) gets human-readable lines. */
int tools_restore(cold_t *c, const char *data_dir, FILE *progress);

/* floe fsck --remote: checks every object the newest manifest names (exists, size, CRC32C of its
 * bytes) and lists orphans (segment objects under segments/ it does not name). Prints a report to
 * out and progress on a TTY. Returns 0 if every named object is intact (orphans are reported but
 * are not damage), FLOE_ECORRUPT if any is missing or damaged. *orphans_out (may be NULL) gets the
 * orphan count. */
int tools_fsck_remote(cold_t *c, FILE *out, uint64_t *orphans_out);

/* floe gc: deletes orphaned segment objects whose mtime is older than grace_s, and manifest
 * versions older than the newest keep_manifests (and older than grace_s). dry_run only prints.
 * *deleted_out (may be NULL) gets how many objects were (or would be) deleted. */
int tools_gc(cold_t *c, int64_t grace_s, unsigned keep_manifests, int dry_run, FILE *out,
             uint64_t *deleted_out);

/* floe segment dump: prints the segment file at path (footer, metadata, bloom filter, index and every
 * entry, keys and values escaped, values shortened) to out, and reports each damaged part with its
 * block number and byte offset. Returns 0 if the file is intact, FLOE_ECORRUPT if anything was
 * damaged (after printing all it could), or another error if it cannot be read at all. */
int tools_segment_dump(const char *path, FILE *out);

/* floe repair: cuts the WAL of data_dir at its first damage (wal_repair), keeping the cut bytes in
 * data_dir/quarantine/, and prints what it cut (dry_run: what it would cut, changing nothing) to out.
 * Takes the data directory's lock: FLOE_ELOCKED while a store has it open. *damaged_out (may be
 * NULL) is 1 if there was damage to cut, 0 if there was nothing to repair. */
int tools_repair(const char *data_dir, int dry_run, FILE *out, int *damaged_out);

/* The floe subcommands. Each takes its own argv (argv[0] is the subcommand name, e.g. "fsck") and
 * returns the process exit status: 0 on success, 1 when the operation failed or found damage (one
 * line on stderr says what), 2 for a usage error. */
int tools_cmd_restore(int argc, char **argv);  /* floe restore -c FILE */
int tools_cmd_fsck(int argc, char **argv);     /* floe fsck -c FILE [--remote] */
int tools_cmd_gc(int argc, char **argv);       /* floe gc -c FILE [--dry-run] [--grace-s N] */
int tools_cmd_manifest(int argc, char **argv); /* floe manifest show -c FILE [--remote] */
int tools_cmd_segment(int argc, char **argv);  /* floe segment dump PATH */
int tools_cmd_repair(int argc, char **argv);   /* floe repair -c FILE [--dry-run] */

#endif
