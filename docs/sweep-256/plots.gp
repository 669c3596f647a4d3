# Plots of the sweep of fashion_256, written by `troupe sweep`.
# Redraw them in this directory with: gnuplot plots.gp
# Data: plot_groups.dat (one block per series, x = position on the axis; NaN = none),
#       plot_means.dat (mean curve per configuration), plot_curves.dat (first seed's curve).
# Every plot is written twice: PNG (pngcairo) and SVG (svg).

# --- to_target ---
reset
set terminal pngcairo noenhanced font 'sans,11' size 1400,600
set output 'to_target.png'
set grid
set multiplot layout 1,2 title "Reaching test accuracy >= 0.85 (fashion_256)\nmean over the repeats, bars: 95% confidence interval; open points: not every repeat reached the target (mean of those that did)"
set xrange [-0.5:0.5]
set xtics ("inf" 0)
set xlabel 'staleness bound (clocks)'
set yrange [0:*]
set key below
set ylabel 'epochs to target (passes over the training set)'
plot 'plot_groups.dat' index 0 using 1:($11==1?$2:NaN):3:4 with yerrorlines pt 7 lc 1 dt 1 title 'rule=staleness', \
     '' index 0 using 1:($11==0?$2:NaN) with points pt 6 ps 1.5 lc 1 dt 1 notitle
set ylabel 'wall time to target (s)'
set yrange [0:*]
unset label 1
plot 'plot_groups.dat' index 0 using 1:($11==1?$5:NaN):6:7 with yerrorlines pt 7 lc 1 dt 1 title 'rule=staleness', \
     '' index 0 using 1:($11==0?$5:NaN) with points pt 6 ps 1.5 lc 1 dt 1 notitle
unset multiplot
unset output
reset
set terminal svg noenhanced font 'sans,11' size 1400,600
set output 'to_target.svg'
set grid
set multiplot layout 1,2 title "Reaching test accuracy >= 0.85 (fashion_256)\nmean over the repeats, bars: 95% confidence interval; open points: not every repeat reached the target (mean of those that did)"
set xrange [-0.5:0.5]
set xtics ("inf" 0)
set xlabel 'staleness bound (clocks)'
set yrange [0:*]
set key below
set ylabel 'epochs to target (passes over the training set)'
plot 'plot_groups.dat' index 0 using 1:($11==1?$2:NaN):3:4 with yerrorlines pt 7 lc 1 dt 1 title 'rule=staleness', \
     '' index 0 using 1:($11==0?$2:NaN) with points pt 6 ps 1.5 lc 1 dt 1 notitle
set ylabel 'wall time to target (s)'
set yrange [0:*]
unset label 1
plot 'plot_groups.dat' index 0 using 1:($11==1?$5:NaN):6:7 with yerrorlines pt 7 lc 1 dt 1 title 'rule=staleness', \
     '' index 0 using 1:($11==0?$5:NaN) with points pt 6 ps 1.5 lc 1 dt 1 notitle
unset multiplot
unset output

# --- best_metric ---
reset
set terminal pngcairo noenhanced font 'sans,11' size 1100,600
set output 'best_metric.png'
set grid
set title "Best test accuracy each run reached (fashion_256)\nmean over the repeats, bars: 95% confidence interval; dashed: the target"
set xrange [-0.5:0.5]
set xtics ("inf" 0)
set xlabel 'staleness bound (clocks)'
set yrange [0:*]
set key below
set ylabel 'best test accuracy (fraction)'
set arrow 1 from graph 0, first 0.85 to graph 1, first 0.85 nohead dt 2 lc rgb 'gray40'
plot 'plot_groups.dat' index 0 using 1:($12):13:14 with yerrorlines pt 7 lc 1 dt 1 title 'rule=staleness'
unset output
reset
set terminal svg noenhanced font 'sans,11' size 1100,600
set output 'best_metric.svg'
set grid
set title "Best test accuracy each run reached (fashion_256)\nmean over the repeats, bars: 95% confidence interval; dashed: the target"
set xrange [-0.5:0.5]
set xtics ("inf" 0)
set xlabel 'staleness bound (clocks)'
set yrange [0:*]
set key below
set ylabel 'best test accuracy (fraction)'
set arrow 1 from graph 0, first 0.85 to graph 1, first 0.85 nohead dt 2 lc rgb 'gray40'
plot 'plot_groups.dat' index 0 using 1:($12):13:14 with yerrorlines pt 7 lc 1 dt 1 title 'rule=staleness'
unset output

# --- waiting ---
reset
set terminal pngcairo noenhanced font 'sans,11' size 1100,600
set output 'waiting.png'
set grid
set title "Waiting on the staleness bound (fashion_256)\nmean over the repeats, bars: 95% confidence interval"
set xrange [-0.5:0.5]
set xtics ("inf" 0)
set xlabel 'staleness bound (clocks)'
set yrange [0:*]
set key below
set ylabel 'fraction of worker time spent waiting (0-1)'
plot 'plot_groups.dat' index 0 using 1:($8):9:10 with yerrorlines pt 7 lc 1 dt 1 title 'rule=staleness'
unset output
reset
set terminal svg noenhanced font 'sans,11' size 1100,600
set output 'waiting.svg'
set grid
set title "Waiting on the staleness bound (fashion_256)\nmean over the repeats, bars: 95% confidence interval"
set xrange [-0.5:0.5]
set xtics ("inf" 0)
set xlabel 'staleness bound (clocks)'
set yrange [0:*]
set key below
set ylabel 'fraction of worker time spent waiting (0-1)'
plot 'plot_groups.dat' index 0 using 1:($8):9:10 with yerrorlines pt 7 lc 1 dt 1 title 'rule=staleness'
unset output

# --- metric_vs_epochs ---
reset
set terminal pngcairo noenhanced font 'sans,11' size 1100,600
set output 'metric_vs_epochs.png'
set grid
set title "Test accuracy against training (fashion_256)\nmean over the repeats, band: 95% confidence interval"
set xlabel 'epochs (passes over the training set)'
set ylabel 'test accuracy (fraction)'
set key outside right top
plot 'plot_means.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 1 notitle, \
     '' index 0 using 1:2 with lines lw 2 lc 1 dt 1 title 'update.rule=staleness staleness=inf', \
     0.85 with lines dt 2 lc rgb 'gray40' title 'target 0.85'
unset output
reset
set terminal svg noenhanced font 'sans,11' size 1100,600
set output 'metric_vs_epochs.svg'
set grid
set title "Test accuracy against training (fashion_256)\nmean over the repeats, band: 95% confidence interval"
set xlabel 'epochs (passes over the training set)'
set ylabel 'test accuracy (fraction)'
set key outside right top
plot 'plot_means.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 1 notitle, \
     '' index 0 using 1:2 with lines lw 2 lc 1 dt 1 title 'update.rule=staleness staleness=inf', \
     0.85 with lines dt 2 lc rgb 'gray40' title 'target 0.85'
unset output

# --- metric_vs_time ---
reset
set terminal pngcairo noenhanced font 'sans,11' size 1100,600
set output 'metric_vs_time.png'
set grid
set title "Test accuracy against wall time (fashion_256)\nfirst successful seed of each configuration"
set xlabel 'wall time (s)'
set ylabel 'test accuracy (fraction)'
set key outside right top
plot 'plot_curves.dat' index 0 using 1:2 with linespoints title 'update.rule=staleness staleness=inf (seed 42)', \
     0.85 with lines dt 2 lc rgb 'gray40' title 'target 0.85'
unset output
reset
set terminal svg noenhanced font 'sans,11' size 1100,600
set output 'metric_vs_time.svg'
set grid
set title "Test accuracy against wall time (fashion_256)\nfirst successful seed of each configuration"
set xlabel 'wall time (s)'
set ylabel 'test accuracy (fraction)'
set key outside right top
plot 'plot_curves.dat' index 0 using 1:2 with linespoints title 'update.rule=staleness staleness=inf (seed 42)', \
     0.85 with lines dt 2 lc rgb 'gray40' title 'target 0.85'
unset output
