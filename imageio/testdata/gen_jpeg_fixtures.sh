#!/bin/sh
# gen_jpeg_fixtures.sh writes the libjpeg-encoded JPEG fixtures of the scan
# budget tests (imageio/budget_test.go) from testdata/images/sunset.jpg, a
# baseline JPEG: jpegtran rewrites the same DCT coefficients, so every
# output decodes to exactly the pixels of sunset.jpg. Run it from the
# repository root; it needs jpegtran from libjpeg-turbo (Debian package
# libjpeg-turbo-progs; the committed files were made with 2.1.5).
set -eu
src=testdata/images/sunset.jpg
out=imageio/testdata

# libjpeg's default progressive script: 10 scans for YCbCr.
jpegtran -progressive "$src" > "$out/progressive.jpg"
# The same with a restart marker (RSTn) after every MCU of every scan.
# (image/jpeg fails on this one, "missing 0xff00 sequence"; it is read by the
# scan counter only.)
jpegtran -progressive -restart 1B "$src" > "$out/progressive_rst.jpg"
# Baseline with a restart marker after every MCU.
jpegtran -restart 1B "$src" > "$out/baseline_rst.jpg"

# A 100-scan script, libjpeg's limit for scan scripts: the DC of all
# components, each AC coefficient of Y on its own, and the first 17 AC
# coefficients of Cb and of Cr on their own, then the rest of each.
script=$(mktemp)
trap 'rm -f "$script"' EXIT
{
	echo "0,1,2: 0-0, 0, 0;"
	for k in $(seq 1 63); do echo "0: $k-$k, 0, 0;"; done
	for c in 1 2; do
		for k in $(seq 1 17); do echo "$c: $k-$k, 0, 0;"; done
		echo "$c: 18-63, 0, 0;"
	done
} > "$script"
jpegtran -scans "$script" "$src" > "$out/many_scans.jpg"
