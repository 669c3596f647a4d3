# Plots of the sweep of spam_scale, written by `troupe sweep`.
# Redraw them in this directory with: gnuplot plots.gp
# Data: plot_groups.dat (one block per series, x = position on the axis; NaN = none),
#       plot_means.dat (mean curve per configuration), plot_curves.dat (first seed's curve).
# Every plot is written twice: PNG (pngcairo) and SVG (svg).

# --- to_target ---
reset
set terminal pngcairo noenhanced font 'sans,11' size 1400,600
set output 'to_target.png'
set grid
set multiplot layout 1,2 title "Reaching test loss <= 0.03504369 (spam_scale)\nmean over the repeats, bars: 95% confidence interval; open points: not every repeat reached the target (mean of those that did)"
set xrange [-0.5:4.5]
set xtics ("8" 0, "32" 1, "128" 2, "512" 3, "1000" 4)
set xlabel 'workers'
set yrange [0:*]
set key below
set ylabel 'epochs to target (passes over the training set)'
set label 1 'no run reached the target (or epochs unknown)' at graph 0.5, graph 0.5 center
set yrange [0:1]
plot -1 notitle
set ylabel 'wall time to target (s)'
set yrange [0:*]
unset label 1
set label 1 'no run reached the target' at graph 0.5, graph 0.5 center
set yrange [0:1]
plot -1 notitle
unset multiplot
unset output
reset
set terminal svg noenhanced font 'sans,11' size 1400,600
set output 'to_target.svg'
set grid
set multiplot layout 1,2 title "Reaching test loss <= 0.03504369 (spam_scale)\nmean over the repeats, bars: 95% confidence interval; open points: not every repeat reached the target (mean of those that did)"
set xrange [-0.5:4.5]
set xtics ("8" 0, "32" 1, "128" 2, "512" 3, "1000" 4)
set xlabel 'workers'
set yrange [0:*]
set key below
set ylabel 'epochs to target (passes over the training set)'
set label 1 'no run reached the target (or epochs unknown)' at graph 0.5, graph 0.5 center
set yrange [0:1]
plot -1 notitle
set ylabel 'wall time to target (s)'
set yrange [0:*]
unset label 1
set label 1 'no run reached the target' at graph 0.5, graph 0.5 center
set yrange [0:1]
plot -1 notitle
unset multiplot
unset output

# --- waiting ---
reset
set terminal pngcairo noenhanced font 'sans,11' size 1100,600
set output 'waiting.png'
set grid
set title "Waiting on the staleness bound (spam_scale)\nmean over the repeats, bars: 95% confidence interval"
set xrange [-0.5:4.5]
set xtics ("8" 0, "32" 1, "128" 2, "512" 3, "1000" 4)
set xlabel 'workers'
set yrange [0:*]
set key below
set ylabel 'fraction of worker time spent waiting (0-1)'
plot 'plot_groups.dat' index 0 using 1:($8):9:10 with yerrorlines pt 7 lc 1 title 'rule=plain, staleness=0', \
     'plot_groups.dat' index 1 using 1:($8):9:10 with yerrorlines pt 7 lc 2 title 'rule=plain, staleness=inf', \
     'plot_groups.dat' index 2 using 1:($8):9:10 with yerrorlines pt 7 lc 3 title 'rule=staleness, staleness=0', \
     'plot_groups.dat' index 3 using 1:($8):9:10 with yerrorlines pt 7 lc 4 title 'rule=staleness, staleness=inf', \
     'plot_groups.dat' index 4 using 1:($8):9:10 with yerrorlines pt 7 lc 5 title 'rule=dcasgd, staleness=0', \
     'plot_groups.dat' index 5 using 1:($8):9:10 with yerrorlines pt 7 lc 6 title 'rule=dcasgd, staleness=inf'
unset output
reset
set terminal svg noenhanced font 'sans,11' size 1100,600
set output 'waiting.svg'
set grid
set title "Waiting on the staleness bound (spam_scale)\nmean over the repeats, bars: 95% confidence interval"
set xrange [-0.5:4.5]
set xtics ("8" 0, "32" 1, "128" 2, "512" 3, "1000" 4)
set xlabel 'workers'
set yrange [0:*]
set key below
set ylabel 'fraction of worker time spent waiting (0-1)'
plot 'plot_groups.dat' index 0 using 1:($8):9:10 with yerrorlines pt 7 lc 1 title 'rule=plain, staleness=0', \
     'plot_groups.dat' index 1 using 1:($8):9:10 with yerrorlines pt 7 lc 2 title 'rule=plain, staleness=inf', \
     'plot_groups.dat' index 2 using 1:($8):9:10 with yerrorlines pt 7 lc 3 title 'rule=staleness, staleness=0', \
     'plot_groups.dat' index 3 using 1:($8):9:10 with yerrorlines pt 7 lc 4 title 'rule=staleness, staleness=inf', \
     'plot_groups.dat' index 4 using 1:($8):9:10 with yerrorlines pt 7 lc 5 title 'rule=dcasgd, staleness=0', \
     'plot_groups.dat' index 5 using 1:($8):9:10 with yerrorlines pt 7 lc 6 title 'rule=dcasgd, staleness=inf'
unset output

# --- metric_vs_epochs ---
reset
set terminal pngcairo noenhanced font 'sans,11' size 1100,600
set output 'metric_vs_epochs.png'
set grid
set title "Test loss against training (spam_scale)\nmean over the repeats, band: 95% confidence interval"
set xlabel 'epochs (passes over the training set)'
set ylabel 'test loss'
set key outside right top
plot 'plot_means.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 1 notitle, \
     '' index 0 using 1:2 with lines lw 2 lc 1 title 'train.workers=8 update.rule=plain staleness=0', \
     'plot_means.dat' index 1 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 2 notitle, \
     '' index 1 using 1:2 with lines lw 2 lc 2 title 'train.workers=8 update.rule=plain staleness=inf', \
     'plot_means.dat' index 2 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 3 notitle, \
     '' index 2 using 1:2 with lines lw 2 lc 3 title 'train.workers=8 update.rule=staleness staleness=0', \
     'plot_means.dat' index 3 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 4 notitle, \
     '' index 3 using 1:2 with lines lw 2 lc 4 title 'train.workers=8 update.rule=staleness staleness=inf', \
     'plot_means.dat' index 4 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 5 notitle, \
     '' index 4 using 1:2 with lines lw 2 lc 5 title 'train.workers=8 update.rule=dcasgd staleness=0', \
     'plot_means.dat' index 5 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 6 notitle, \
     '' index 5 using 1:2 with lines lw 2 lc 6 title 'train.workers=8 update.rule=dcasgd staleness=inf', \
     'plot_means.dat' index 6 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 7 notitle, \
     '' index 6 using 1:2 with lines lw 2 lc 7 title 'train.workers=32 update.rule=plain staleness=0', \
     'plot_means.dat' index 7 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 8 notitle, \
     '' index 7 using 1:2 with lines lw 2 lc 8 title 'train.workers=32 update.rule=plain staleness=inf', \
     'plot_means.dat' index 8 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 1 notitle, \
     '' index 8 using 1:2 with lines lw 2 lc 1 title 'train.workers=32 update.rule=staleness staleness=0', \
     'plot_means.dat' index 9 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 2 notitle, \
     '' index 9 using 1:2 with lines lw 2 lc 2 title 'train.workers=32 update.rule=staleness staleness=inf', \
     'plot_means.dat' index 10 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 3 notitle, \
     '' index 10 using 1:2 with lines lw 2 lc 3 title 'train.workers=32 update.rule=dcasgd staleness=0', \
     'plot_means.dat' index 11 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 4 notitle, \
     '' index 11 using 1:2 with lines lw 2 lc 4 title 'train.workers=32 update.rule=dcasgd staleness=inf', \
     'plot_means.dat' index 12 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 5 notitle, \
     '' index 12 using 1:2 with lines lw 2 lc 5 title 'train.workers=128 update.rule=plain staleness=0', \
     'plot_means.dat' index 13 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 6 notitle, \
     '' index 13 using 1:2 with lines lw 2 lc 6 title 'train.workers=128 update.rule=plain staleness=inf', \
     'plot_means.dat' index 14 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 7 notitle, \
     '' index 14 using 1:2 with lines lw 2 lc 7 title 'train.workers=128 update.rule=staleness staleness=0', \
     'plot_means.dat' index 15 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 8 notitle, \
     '' index 15 using 1:2 with lines lw 2 lc 8 title 'train.workers=128 update.rule=staleness staleness=inf', \
     'plot_means.dat' index 16 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 1 notitle, \
     '' index 16 using 1:2 with lines lw 2 lc 1 title 'train.workers=128 update.rule=dcasgd staleness=0', \
     'plot_means.dat' index 17 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 2 notitle, \
     '' index 17 using 1:2 with lines lw 2 lc 2 title 'train.workers=128 update.rule=dcasgd staleness=inf', \
     'plot_means.dat' index 18 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 3 notitle, \
     '' index 18 using 1:2 with lines lw 2 lc 3 title 'train.workers=512 update.rule=plain staleness=0', \
     'plot_means.dat' index 19 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 4 notitle, \
     '' index 19 using 1:2 with lines lw 2 lc 4 title 'train.workers=512 update.rule=plain staleness=inf', \
     'plot_means.dat' index 20 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 5 notitle, \
     '' index 20 using 1:2 with lines lw 2 lc 5 title 'train.workers=512 update.rule=staleness staleness=0', \
     'plot_means.dat' index 21 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 6 notitle, \
     '' index 21 using 1:2 with lines lw 2 lc 6 title 'train.workers=512 update.rule=staleness staleness=inf', \
     'plot_means.dat' index 22 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 7 notitle, \
     '' index 22 using 1:2 with lines lw 2 lc 7 title 'train.workers=512 update.rule=dcasgd staleness=0', \
     'plot_means.dat' index 23 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 8 notitle, \
     '' index 23 using 1:2 with lines lw 2 lc 8 title 'train.workers=512 update.rule=dcasgd staleness=inf', \
     'plot_means.dat' index 24 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 1 notitle, \
     '' index 24 using 1:2 with lines lw 2 lc 1 title 'train.workers=1000 update.rule=plain staleness=0', \
     'plot_means.dat' index 25 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 2 notitle, \
     '' index 25 using 1:2 with lines lw 2 lc 2 title 'train.workers=1000 update.rule=plain staleness=inf', \
     'plot_means.dat' index 26 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 3 notitle, \
     '' index 26 using 1:2 with lines lw 2 lc 3 title 'train.workers=1000 update.rule=staleness staleness=0', \
     'plot_means.dat' index 27 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 4 notitle, \
     '' index 27 using 1:2 with lines lw 2 lc 4 title 'train.workers=1000 update.rule=staleness staleness=inf', \
     'plot_means.dat' index 28 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 5 notitle, \
     '' index 28 using 1:2 with lines lw 2 lc 5 title 'train.workers=1000 update.rule=dcasgd staleness=0', \
     'plot_means.dat' index 29 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 6 notitle, \
     '' index 29 using 1:2 with lines lw 2 lc 6 title 'train.workers=1000 update.rule=dcasgd staleness=inf', \
     0.03504369 with lines dt 2 lc rgb 'gray40' title 'target 0.03504369'
unset output
reset
set terminal svg noenhanced font 'sans,11' size 1100,600
set output 'metric_vs_epochs.svg'
set grid
set title "Test loss against training (spam_scale)\nmean over the repeats, band: 95% confidence interval"
set xlabel 'epochs (passes over the training set)'
set ylabel 'test loss'
set key outside right top
plot 'plot_means.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 1 notitle, \
     '' index 0 using 1:2 with lines lw 2 lc 1 title 'train.workers=8 update.rule=plain staleness=0', \
     'plot_means.dat' index 1 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 2 notitle, \
     '' index 1 using 1:2 with lines lw 2 lc 2 title 'train.workers=8 update.rule=plain staleness=inf', \
     'plot_means.dat' index 2 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 3 notitle, \
     '' index 2 using 1:2 with lines lw 2 lc 3 title 'train.workers=8 update.rule=staleness staleness=0', \
     'plot_means.dat' index 3 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 4 notitle, \
     '' index 3 using 1:2 with lines lw 2 lc 4 title 'train.workers=8 update.rule=staleness staleness=inf', \
     'plot_means.dat' index 4 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 5 notitle, \
     '' index 4 using 1:2 with lines lw 2 lc 5 title 'train.workers=8 update.rule=dcasgd staleness=0', \
     'plot_means.dat' index 5 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 6 notitle, \
     '' index 5 using 1:2 with lines lw 2 lc 6 title 'train.workers=8 update.rule=dcasgd staleness=inf', \
     'plot_means.dat' index 6 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 7 notitle, \
     '' index 6 using 1:2 with lines lw 2 lc 7 title 'train.workers=32 update.rule=plain staleness=0', \
     'plot_means.dat' index 7 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 8 notitle, \
     '' index 7 using 1:2 with lines lw 2 lc 8 title 'train.workers=32 update.rule=plain staleness=inf', \
     'plot_means.dat' index 8 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 1 notitle, \
     '' index 8 using 1:2 with lines lw 2 lc 1 title 'train.workers=32 update.rule=staleness staleness=0', \
     'plot_means.dat' index 9 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 2 notitle, \
     '' index 9 using 1:2 with lines lw 2 lc 2 title 'train.workers=32 update.rule=staleness staleness=inf', \
     'plot_means.dat' index 10 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 3 notitle, \
     '' index 10 using 1:2 with lines lw 2 lc 3 title 'train.workers=32 update.rule=dcasgd staleness=0', \
     'plot_means.dat' index 11 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 4 notitle, \
     '' index 11 using 1:2 with lines lw 2 lc 4 title 'train.workers=32 update.rule=dcasgd staleness=inf', \
     'plot_means.dat' index 12 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 5 notitle, \
     '' index 12 using 1:2 with lines lw 2 lc 5 title 'train.workers=128 update.rule=plain staleness=0', \
     'plot_means.dat' index 13 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 6 notitle, \
     '' index 13 using 1:2 with lines lw 2 lc 6 title 'train.workers=128 update.rule=plain staleness=inf', \
     'plot_means.dat' index 14 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 7 notitle, \
     '' index 14 using 1:2 with lines lw 2 lc 7 title 'train.workers=128 update.rule=staleness staleness=0', \
     'plot_means.dat' index 15 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 8 notitle, \
     '' index 15 using 1:2 with lines lw 2 lc 8 title 'train.workers=128 update.rule=staleness staleness=inf', \
     'plot_means.dat' index 16 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 1 notitle, \
     '' index 16 using 1:2 with lines lw 2 lc 1 title 'train.workers=128 update.rule=dcasgd staleness=0', \
     'plot_means.dat' index 17 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 2 notitle, \
     '' index 17 using 1:2 with lines lw 2 lc 2 title 'train.workers=128 update.rule=dcasgd staleness=inf', \
     'plot_means.dat' index 18 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 3 notitle, \
     '' index 18 using 1:2 with lines lw 2 lc 3 title 'train.workers=512 update.rule=plain staleness=0', \
     'plot_means.dat' index 19 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 4 notitle, \
     '' index 19 using 1:2 with lines lw 2 lc 4 title 'train.workers=512 update.rule=plain staleness=inf', \
     'plot_means.dat' index 20 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 5 notitle, \
     '' index 20 using 1:2 with lines lw 2 lc 5 title 'train.workers=512 update.rule=staleness staleness=0', \
     'plot_means.dat' index 21 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 6 notitle, \
     '' index 21 using 1:2 with lines lw 2 lc 6 title 'train.workers=512 update.rule=staleness staleness=inf', \
     'plot_means.dat' index 22 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 7 notitle, \
     '' index 22 using 1:2 with lines lw 2 lc 7 title 'train.workers=512 update.rule=dcasgd staleness=0', \
     'plot_means.dat' index 23 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 8 notitle, \
     '' index 23 using 1:2 with lines lw 2 lc 8 title 'train.workers=512 update.rule=dcasgd staleness=inf', \
     'plot_means.dat' index 24 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 1 notitle, \
     '' index 24 using 1:2 with lines lw 2 lc 1 title 'train.workers=1000 update.rule=plain staleness=0', \
     'plot_means.dat' index 25 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 2 notitle, \
     '' index 25 using 1:2 with lines lw 2 lc 2 title 'train.workers=1000 update.rule=plain staleness=inf', \
     'plot_means.dat' index 26 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 3 notitle, \
     '' index 26 using 1:2 with lines lw 2 lc 3 title 'train.workers=1000 update.rule=staleness staleness=0', \
     'plot_means.dat' index 27 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 4 notitle, \
     '' index 27 using 1:2 with lines lw 2 lc 4 title 'train.workers=1000 update.rule=staleness staleness=inf', \
     'plot_means.dat' index 28 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 5 notitle, \
     '' index 28 using 1:2 with lines lw 2 lc 5 title 'train.workers=1000 update.rule=dcasgd staleness=0', \
     'plot_means.dat' index 29 using 1:3:4 with filledcurves fs transparent solid 0.15 lc 6 notitle, \
     '' index 29 using 1:2 with lines lw 2 lc 6 title 'train.workers=1000 update.rule=dcasgd staleness=inf', \
     0.03504369 with lines dt 2 lc rgb 'gray40' title 'target 0.03504369'
unset output

# --- metric_vs_time ---
reset
set terminal pngcairo noenhanced font 'sans,11' size 1100,600
set output 'metric_vs_time.png'
set grid
set title "Test loss against wall time (spam_scale)\nfirst successful seed of each configuration"
set xlabel 'wall time (s)'
set ylabel 'test loss'
set key outside right top
plot 'plot_curves.dat' index 0 using 1:3 with linespoints title 'train.workers=8 update.rule=plain staleness=0 (seed 42)', \
     'plot_curves.dat' index 1 using 1:3 with linespoints title 'train.workers=8 update.rule=plain staleness=inf (seed 42)', \
     'plot_curves.dat' index 2 using 1:3 with linespoints title 'train.workers=8 update.rule=staleness staleness=0 (seed 42)', \
     'plot_curves.dat' index 3 using 1:3 with linespoints title 'train.workers=8 update.rule=staleness staleness=inf (seed 42)', \
     'plot_curves.dat' index 4 using 1:3 with linespoints title 'train.workers=8 update.rule=dcasgd staleness=0 (seed 42)', \
     'plot_curves.dat' index 5 using 1:3 with linespoints title 'train.workers=8 update.rule=dcasgd staleness=inf (seed 42)', \
     'plot_curves.dat' index 6 using 1:3 with linespoints title 'train.workers=32 update.rule=plain staleness=0 (seed 42)', \
     'plot_curves.dat' index 7 using 1:3 with linespoints title 'train.workers=32 update.rule=plain staleness=inf (seed 42)', \
     'plot_curves.dat' index 8 using 1:3 with linespoints title 'train.workers=32 update.rule=staleness staleness=0 (seed 42)', \
     'plot_curves.dat' index 9 using 1:3 with linespoints title 'train.workers=32 update.rule=staleness staleness=inf (seed 42)', \
     'plot_curves.dat' index 10 using 1:3 with linespoints title 'train.workers=32 update.rule=dcasgd staleness=0 (seed 42)', \
     'plot_curves.dat' index 11 using 1:3 with linespoints title 'train.workers=32 update.rule=dcasgd staleness=inf (seed 42)', \
     'plot_curves.dat' index 12 using 1:3 with linespoints title 'train.workers=128 update.rule=plain staleness=0 (seed 42)', \
     'plot_curves.dat' index 13 using 1:3 with linespoints title 'train.workers=128 update.rule=plain staleness=inf (seed 42)', \
     'plot_curves.dat' index 14 using 1:3 with linespoints title 'train.workers=128 update.rule=staleness staleness=0 (seed 42)', \
     'plot_curves.dat' index 15 using 1:3 with linespoints title 'train.workers=128 update.rule=staleness staleness=inf (seed 42)', \
     'plot_curves.dat' index 16 using 1:3 with linespoints title 'train.workers=128 update.rule=dcasgd staleness=0 (seed 42)', \
     'plot_curves.dat' index 17 using 1:3 with linespoints title 'train.workers=128 update.rule=dcasgd staleness=inf (seed 42)', \
     'plot_curves.dat' index 18 using 1:3 with linespoints title 'train.workers=512 update.rule=plain staleness=0 (seed 42)', \
     'plot_curves.dat' index 19 using 1:3 with linespoints title 'train.workers=512 update.rule=plain staleness=inf (seed 42)', \
     'plot_curves.dat' index 20 using 1:3 with linespoints title 'train.workers=512 update.rule=staleness staleness=0 (seed 42)', \
     'plot_curves.dat' index 21 using 1:3 with linespoints title 'train.workers=512 update.rule=staleness staleness=inf (seed 42)', \
     'plot_curves.dat' index 22 using 1:3 with linespoints title 'train.workers=512 update.rule=dcasgd staleness=0 (seed 42)', \
     'plot_curves.dat' index 23 using 1:3 with linespoints title 'train.workers=512 update.rule=dcasgd staleness=inf (seed 42)', \
     'plot_curves.dat' index 24 using 1:3 with linespoints title 'train.workers=1000 update.rule=plain staleness=0 (seed 42)', \
     'plot_curves.dat' index 25 using 1:3 with linespoints title 'train.workers=1000 update.rule=plain staleness=inf (seed 42)', \
     'plot_curves.dat' index 26 using 1:3 with linespoints title 'train.workers=1000 update.rule=staleness staleness=0 (seed 42)', \
     'plot_curves.dat' index 27 using 1:3 with linespoints title 'train.workers=1000 update.rule=staleness staleness=inf (seed 42)', \
     'plot_curves.dat' index 28 using 1:3 with linespoints title 'train.workers=1000 update.rule=dcasgd staleness=0 (seed 42)', \
     'plot_curves.dat' index 29 using 1:3 with linespoints title 'train.workers=1000 update.rule=dcasgd staleness=inf (seed 42)', \
     0.03504369 with lines dt 2 lc rgb 'gray40' title 'target 0.03504369'
unset output
reset
set terminal svg noenhanced font 'sans,11' size 1100,600
set output 'metric_vs_time.svg'
set grid
set title "Test loss against wall time (spam_scale)\nfirst successful seed of each configuration"
set xlabel 'wall time (s)'
set ylabel 'test loss'
set key outside right top
plot 'plot_curves.dat' index 0 using 1:3 with linespoints title 'train.workers=8 update.rule=plain staleness=0 (seed 42)', \
     'plot_curves.dat' index 1 using 1:3 with linespoints title 'train.workers=8 update.rule=plain staleness=inf (seed 42)', \
     'plot_curves.dat' index 2 using 1:3 with linespoints title 'train.workers=8 update.rule=staleness staleness=0 (seed 42)', \
     'plot_curves.dat' index 3 using 1:3 with linespoints title 'train.workers=8 update.rule=staleness staleness=inf (seed 42)', \
     'plot_curves.dat' index 4 using 1:3 with linespoints title 'train.workers=8 update.rule=dcasgd staleness=0 (seed 42)', \
     'plot_curves.dat' index 5 using 1:3 with linespoints title 'train.workers=8 update.rule=dcasgd staleness=inf (seed 42)', \
     'plot_curves.dat' index 6 using 1:3 with linespoints title 'train.workers=32 update.rule=plain staleness=0 (seed 42)', \
     'plot_curves.dat' index 7 using 1:3 with linespoints title 'train.workers=32 update.rule=plain staleness=inf (seed 42)', \
     'plot_curves.dat' index 8 using 1:3 with linespoints title 'train.workers=32 update.rule=staleness staleness=0 (seed 42)', \
     'plot_curves.dat' index 9 using 1:3 with linespoints title 'train.workers=32 update.rule=staleness staleness=inf (seed 42)', \
     'plot_curves.dat' index 10 using 1:3 with linespoints title 'train.workers=32 update.rule=dcasgd staleness=0 (seed 42)', \
     'plot_curves.dat' index 11 using 1:3 with linespoints title 'train.workers=32 update.rule=dcasgd staleness=inf (seed 42)', \
     'plot_curves.dat' index 12 using 1:3 with linespoints title 'train.workers=128 update.rule=plain staleness=0 (seed 42)', \
     'plot_curves.dat' index 13 using 1:3 with linespoints title 'train.workers=128 update.rule=plain staleness=inf (seed 42)', \
     'plot_curves.dat' index 14 using 1:3 with linespoints title 'train.workers=128 update.rule=staleness staleness=0 (seed 42)', \
     'plot_curves.dat' index 15 using 1:3 with linespoints title 'train.workers=128 update.rule=staleness staleness=inf (seed 42)', \
     'plot_curves.dat' index 16 using 1:3 with linespoints title 'train.workers=128 update.rule=dcasgd staleness=0 (seed 42)', \
     'plot_curves.dat' index 17 using 1:3 with linespoints title 'train.workers=128 update.rule=dcasgd staleness=inf (seed 42)', \
     'plot_curves.dat' index 18 using 1:3 with linespoints title 'train.workers=512 update.rule=plain staleness=0 (seed 42)', \
     'plot_curves.dat' index 19 using 1:3 with linespoints title 'train.workers=512 update.rule=plain staleness=inf (seed 42)', \
     'plot_curves.dat' index 20 using 1:3 with linespoints title 'train.workers=512 update.rule=staleness staleness=0 (seed 42)', \
     'plot_curves.dat' index 21 using 1:3 with linespoints title 'train.workers=512 update.rule=staleness staleness=inf (seed 42)', \
     'plot_curves.dat' index 22 using 1:3 with linespoints title 'train.workers=512 update.rule=dcasgd staleness=0 (seed 42)', \
     'plot_curves.dat' index 23 using 1:3 with linespoints title 'train.workers=512 update.rule=dcasgd staleness=inf (seed 42)', \
     'plot_curves.dat' index 24 using 1:3 with linespoints title 'train.workers=1000 update.rule=plain staleness=0 (seed 42)', \
     'plot_curves.dat' index 25 using 1:3 with linespoints title 'train.workers=1000 update.rule=plain staleness=inf (seed 42)', \
     'plot_curves.dat' index 26 using 1:3 with linespoints title 'train.workers=1000 update.rule=staleness staleness=0 (seed 42)', \
     'plot_curves.dat' index 27 using 1:3 with linespoints title 'train.workers=1000 update.rule=staleness staleness=inf (seed 42)', \
     'plot_curves.dat' index 28 using 1:3 with linespoints title 'train.workers=1000 update.rule=dcasgd staleness=0 (seed 42)', \
     'plot_curves.dat' index 29 using 1:3 with linespoints title 'train.workers=1000 update.rule=dcasgd staleness=inf (seed 42)', \
     0.03504369 with lines dt 2 lc rgb 'gray40' title 'target 0.03504369'
unset output
