# Plots of the sweep of fashion_ssp_sweep, written by `troupe sweep`.
# Redraw them in this directory with: gnuplot plots.gp
# Data: plot_groups.dat (one block per series, x = position on the axis; NaN = none),
#       plot_means.dat (mean curve per configuration), plot_curves.dat (first seed's curve).
# Every plot is written twice: PNG (pngcairo) and SVG (svg).

# --- to_target ---
reset
set terminal pngcairo noenhanced font 'sans,11' size 1400,600
set output 'to_target.png'
set grid
set multiplot layout 1,2 title "Reaching test accuracy >= 0.844074 (fashion_ssp_sweep)\nmean over the repeats, bars: 95% confidence interval; open points: not every repeat reached the target (mean of those that did)"
set xrange [-0.5:5.5]
set xtics ("0" 0, "1" 1, "2" 2, "4" 3, "8" 4, "inf" 5)
set xlabel 'staleness bound (clocks)'
set yrange [0:*]
set key below
set ylabel 'epochs to target (passes over the training set)'
plot 'plot_groups.dat' index 0 using 1:($11==1?$2:NaN):3:4 with yerrorlines pt 7 lc 1 title 'all runs', \
     '' index 0 using 1:($11==0?$2:NaN) with points pt 6 ps 1.5 lc 1 notitle
set ylabel 'wall time to target (s)'
set yrange [0:*]
unset label 1
plot 'plot_groups.dat' index 0 using 1:($11==1?$5:NaN):6:7 with yerrorlines pt 7 lc 1 title 'all runs', \
     '' index 0 using 1:($11==0?$5:NaN) with points pt 6 ps 1.5 lc 1 notitle
unset multiplot
unset output
reset
set terminal svg noenhanced font 'sans,11' size 1400,600
set output 'to_target.svg'
set grid
set multiplot layout 1,2 title "Reaching test accuracy >= 0.844074 (fashion_ssp_sweep)\nmean over the repeats, bars: 95% confidence interval; open points: not every repeat reached the target (mean of those that did)"
set xrange [-0.5:5.5]
set xtics ("0" 0, "1" 1, "2" 2, "4" 3, "8" 4, "inf" 5)
set xlabel 'staleness bound (clocks)'
set yrange [0:*]
set key below
set ylabel 'epochs to target (passes over the training set)'
plot 'plot_groups.dat' index 0 using 1:($11==1?$2:NaN):3:4 with yerrorlines pt 7 lc 1 title 'all runs', \
     '' index 0 using 1:($11==0?$2:NaN) with points pt 6 ps 1.5 lc 1 notitle
set ylabel 'wall time to target (s)'
set yrange [0:*]
unset label 1
plot 'plot_groups.dat' index 0 using 1:($11==1?$5:NaN):6:7 with yerrorlines pt 7 lc 1 title 'all runs', \
     '' index 0 using 1:($11==0?$5:NaN) with points pt 6 ps 1.5 lc 1 notitle
unset multiplot
unset output

# --- waiting ---
reset
set terminal pngcairo noenhanced font 'sans,11' size 1100,600
set output 'waiting.png'
set grid
set title "Waiting on the staleness bound (fashion_ssp_sweep)\nmean over the repeats, bars: 95% confidence interval"
set xrange [-0.5:5.5]
set xtics ("0" 0, "1" 1, "2" 2, "4" 3, "8" 4, "inf" 5)
set xlabel 'staleness bound (clocks)'
set yrange [0:*]
set key below
set ylabel 'fraction of worker time spent waiting (0-1)'
plot 'plot_groups.dat' index 0 using 1:($8):9:10 with yerrorlines pt 7 lc 1 title 'all runs'
unset output
reset
set terminal svg noenhanced font 'sans,11' size 1100,600
set output 'waiting.svg'
set grid
set title "Waiting on the staleness bound (fashion_ssp_sweep)\nmean over the repeats, bars: 95% confidence interval"
set xrange [-0.5:5.5]
set xtics ("0" 0, "1" 1, "2" 2, "4" 3, "8" 4, "inf" 5)
set xlabel 'staleness bound (clocks)'
set yrange [0:*]
set key below
set ylabel 'fraction of worker time spent waiting (0-1)'
plot 'plot_groups.dat' index 0 using 1:($8):9:10 with yerrorlines pt 7 lc 1 title 'all runs'
unset output

# --- metric_vs_epochs ---
reset
set terminal pngcairo noenhanced font 'sans,11' size 1100,600
set output 'metric_vs_epochs.png'
set grid
set title "Test accuracy against training (fashion_ssp_sweep)\nmean over the repeats, band: 95% confidence interval"
set xlabel 'epochs (passes over the training set)'
set ylabel 'test accuracy (fraction)'
set key outside right top
plot 'plot_means.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 1 notitle, \
     '' index 0 using 1:2 with lines lw 2 lc 1 title 'staleness=0', \
     'plot_means.dat' index 1 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 2 notitle, \
     '' index 1 using 1:2 with lines lw 2 lc 2 title 'staleness=1', \
     'plot_means.dat' index 2 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 3 notitle, \
     '' index 2 using 1:2 with lines lw 2 lc 3 title 'staleness=2', \
     'plot_means.dat' index 3 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 4 notitle, \
     '' index 3 using 1:2 with lines lw 2 lc 4 title 'staleness=4', \
     'plot_means.dat' index 4 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 5 notitle, \
     '' index 4 using 1:2 with lines lw 2 lc 5 title 'staleness=8', \
     'plot_means.dat' index 5 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 6 notitle, \
     '' index 5 using 1:2 with lines lw 2 lc 6 title 'staleness=inf', \
     0.844074 with lines dt 2 lc rgb 'gray40' title 'target 0.844074'
unset output
reset
set terminal svg noenhanced font 'sans,11' size 1100,600
set output 'metric_vs_epochs.svg'
set grid
set title "Test accuracy against training (fashion_ssp_sweep)\nmean over the repeats, band: 95% confidence interval"
set xlabel 'epochs (passes over the training set)'
set ylabel 'test accuracy (fraction)'
set key outside right top
plot 'plot_means.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 1 notitle, \
     '' index 0 using 1:2 with lines lw 2 lc 1 title 'staleness=0', \
     'plot_means.dat' index 1 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 2 notitle, \
     '' index 1 using 1:2 with lines lw 2 lc 2 title 'staleness=1', \
     'plot_means.dat' index 2 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 3 notitle, \
     '' index 2 using 1:2 with lines lw 2 lc 3 title 'staleness=2', \
     'plot_means.dat' index 3 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 4 notitle, \
     '' index 3 using 1:2 with lines lw 2 lc 4 title 'staleness=4', \
     'plot_means.dat' index 4 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 5 notitle, \
     '' index 4 using 1:2 with lines lw 2 lc 5 title 'staleness=8', \
     'plot_means.dat' index 5 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 6 notitle, \
     '' index 5 using 1:2 with lines lw 2 lc 6 title 'staleness=inf', \
     0.844074 with lines dt 2 lc rgb 'gray40' title 'target 0.844074'
unset output

# --- metric_vs_time ---
reset
set terminal pngcairo noenhanced font 'sans,11' size 1100,600
set output 'metric_vs_time.png'
set grid
set title "Test accuracy against wall time (fashion_ssp_sweep)\nfirst successful seed of each configuration"
set xlabel 'wall time (s)'
set ylabel 'test accuracy (fraction)'
set key outside right top
plot 'plot_curves.dat' index 0 using 1:2 with linespoints title 'staleness=0 (seed 42)', \
     'plot_curves.dat' index 1 using 1:2 with linespoints title 'staleness=1 (seed 42)', \
     'plot_curves.dat' index 2 using 1:2 with linespoints title 'staleness=2 (seed 42)', \
     'plot_curves.dat' index 3 using 1:2 with linespoints title 'staleness=4 (seed 42)', \
     'plot_curves.dat' index 4 using 1:2 with linespoints title 'staleness=8 (seed 42)', \
     'plot_curves.dat' index 5 using 1:2 with linespoints title 'staleness=inf (seed 42)', \
     0.844074 with lines dt 2 lc rgb 'gray40' title 'target 0.844074'
unset output
reset
set terminal svg noenhanced font 'sans,11' size 1100,600
set output 'metric_vs_time.svg'
set grid
set title "Test accuracy against wall time (fashion_ssp_sweep)\nfirst successful seed of each configuration"
set xlabel 'wall time (s)'
set ylabel 'test accuracy (fraction)'
set key outside right top
plot 'plot_curves.dat' index 0 using 1:2 with linespoints title 'staleness=0 (seed 42)', \
     'plot_curves.dat' index 1 using 1:2 with linespoints title 'staleness=1 (seed 42)', \
     'plot_curves.dat' index 2 using 1:2 with linespoints title 'staleness=2 (seed 42)', \
     'plot_curves.dat' index 3 using 1:2 with linespoints title 'staleness=4 (seed 42)', \
     'plot_curves.dat' index 4 using 1:2 with linespoints title 'staleness=8 (seed 42)', \
     'plot_curves.dat' index 5 using 1:2 with linespoints title 'staleness=inf (seed 42)', \
     0.844074 with lines dt 2 lc rgb 'gray40' title 'target 0.844074'
unset output
