# The plots of docs/benchmarks.md, drawn by bench/run-all.sh:
#   gnuplot -e "datadir='DIR'; outdir='DIR'" bench/plot.gnuplot
# datadir holds the data run-all.sh wrote:
#   sync.dat     threads, then floe and RocksDB ops/s for fillseq and fillrandom with sync always
#   latency.dat  a quoted label, then floe p50 p99 p99.9, then the peer's p50 p99 p99.9 (microseconds)
# outdir gets sync-always-throughput.png and read-latency.png.

if (!exists("datadir") || !exists("outdir")) {
    print "plot.gnuplot: set datadir and outdir with -e"
    exit status 2
}

set terminal pngcairo size 900,540 enhanced font "DejaVu Sans,11"
set grid ytics lc rgb "#dddddd"
set key top left box opaque

# 1. Durable writes: throughput by thread count, sync=always.
set output outdir."/sync-always-throughput.png"
set title "Writes acknowledged after fdatasync (sync=always): throughput by thread count"
set xlabel "writer threads"
set ylabel "writes per second"
set logscale x 2
set xrange [0.8:20]
set xtics (1, 2, 4, 8, 16)
set yrange [0:*]
set format y "%.0f"
plot datadir."/sync.dat" using 1:2 with linespoints lw 2 pt 7 lc rgb "#1f5fa8" title "floe fillseq", \
     ""                  using 1:3 with linespoints lw 2 pt 5 lc rgb "#d2691e" title "RocksDB fillseq", \
     ""                  using 1:4 with linespoints lw 2 pt 7 dt 2 lc rgb "#6fa0dc" title "floe fillrandom", \
     ""                  using 1:5 with linespoints lw 2 pt 5 dt 2 lc rgb "#f4a460" title "RocksDB fillrandom"
unset logscale x
set xrange [*:*]
unset xtics
set xtics

# 2. Read latency percentiles: floe vs RocksDB (embedded reads) and vs curl (cold GET).
set output outdir."/read-latency.png"
set title "Read latency percentiles (log scale; peer: RocksDB for embedded reads, curl for cold GETs)"
set xlabel ""
set ylabel "microseconds"
set logscale y 10
set yrange [*:*]
set format y "10^{%L}"
set style data histograms
set style histogram clustered gap 2
set style fill solid 0.9 border -1
set boxwidth 0.9
set key top left
plot datadir."/latency.dat" using 2:xtic(1) lc rgb "#9ecae1" title "floe p50", \
     ""                     using 3 lc rgb "#4292c6" title "floe p99", \
     ""                     using 4 lc rgb "#08519c" title "floe p99.9", \
     ""                     using 5 lc rgb "#fdd0a2" title "peer p50", \
     ""                     using 6 lc rgb "#fd8d3c" title "peer p99", \
     ""                     using 7 lc rgb "#d94801" title "peer p99.9"
