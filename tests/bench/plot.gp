# plot.gp - latency distributions (CDF) of mqttgw and the Python tutorial
# peer, from the data run.py writes (cdf-*.dat: "latency_us fraction" per
# line, sorted). Two panels: downlink (publish -> line on the port, 5,000
# sequential QoS 1 commands, with the no-gateway publisher -> broker ->
# subscriber floor for reference) and paced uplink (frame written ->
# subscriber, 1,000 frames/s for 10 s, QoS 1). Log x: medians of ~100 us
# and tails of several ms belong on one plot, and the tails matter as much
# as the medians.
#
#   gnuplot -e "outfile='build/bench/latency.png'; dir='build/bench'" tests/bench/plot.gp
#
# A curve whose data file is missing (a partial run with --only) is left out.

if (!exists("outfile")) outfile = "latency.png"
if (!exists("dir")) dir = "build/bench"

f(n) = dir . "/cdf-" . n . ".dat"
have(n) = system("test -s '" . f(n) . "' && echo 1 || echo 0") eq "1"

set terminal pngcairo size 1400,560 font "sans,11"
set output outfile
set multiplot layout 1,2 title "mqttgw vs a Python tutorial gateway: latency CDF (loopback broker, pty ports)"
set logscale x 10
set format x "%g"
set xlabel "latency, µs (log scale)"
set ylabel "fraction ≤ latency"
set yrange [0:1.02]
set ytics 0.1
set grid xtics mxtics ytics
set key bottom right box opaque

set title "downlink: publish → line on the port (QoS 1, sequential)"
cmd = "plot "
sep = ""
if (have("down-mqttgw")) { cmd = cmd . sep . "f('down-mqttgw') u 1:2 w l lw 2.5 lc rgb '#1f77b4' t 'mqttgw'"; sep = ", " }
if (have("down-python")) { cmd = cmd . sep . "f('down-python') u 1:2 w l lw 2.5 lc rgb '#d62728' t 'Python (paho-mqtt + pyserial)'"; sep = ", " }
if (have("down-floor"))  { cmd = cmd . sep . "f('down-floor') u 1:2 w l lw 1.5 dt 2 lc rgb '#555555' t 'no gateway: publisher → broker → subscriber'"; sep = ", " }
if (sep ne "") { eval(cmd) }

set title "uplink: frame written → subscriber (1,000 frames/s, QoS 1)"
cmd = "plot "
sep = ""
if (have("paced-mqttgw")) { cmd = cmd . sep . "f('paced-mqttgw') u 1:2 w l lw 2.5 lc rgb '#1f77b4' t 'mqttgw'"; sep = ", " }
if (have("paced-python")) { cmd = cmd . sep . "f('paced-python') u 1:2 w l lw 2.5 lc rgb '#d62728' t 'Python (paho-mqtt + pyserial)'"; sep = ", " }
if (sep ne "") { eval(cmd) }

unset multiplot
