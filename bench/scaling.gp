# The scaling plot of bench/run.sh: events/s against the number of events, one line per
# (rules, workers). Usage: gnuplot -e "data='plot.dat'; out='scaling.png'" bench/scaling.gp
set terminal pngcairo size 800,480 font ",10"
set output out
set title "Vigil replay: events/s against log length (pipeline rate, start-up excluded)"
set xlabel "events replayed"
set ylabel "events/s"
set logscale x
set format x "%.0s%c"
set format y "%.0s%c"
set yrange [0:*]
set grid
set key outside right
plot for [i=0:3] data index i using 1:2 with linespoints lw 2 pt 7 title columnheader(1)
