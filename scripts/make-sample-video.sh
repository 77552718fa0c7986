#!/bin/sh
# Makes the fal simulator's result video (src/fal-simulator/assets/sample.mp4): a 4 s test pattern
# with a running clock, 640x360 at 24 fps, H.264 (yuv420p), +faststart, no audio; well under 1 MB.
# Needs ffmpeg (Debian: apt-get install -y ffmpeg). The clip is committed; run this only to remake it.
set -eu
out="$(dirname "$0")/../src/fal-simulator/assets/sample.mp4"
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=640x360:rate=24:duration=4" \
  -vf "drawbox=x=0:y=300:w=640:h=60:color=black@0.6:t=fill,drawtext=text='fal simulator':x=16:y=318:fontsize=28:fontcolor=white" \
  -c:v libx264 -profile:v main -pix_fmt yuv420p -preset veryslow -crf 30 -movflags +faststart -an \
  "$out" 2>/dev/null || \
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=640x360:rate=24:duration=4" \
  -c:v libx264 -profile:v main -pix_fmt yuv420p -preset veryslow -crf 30 -movflags +faststart -an \
  "$out"
ls -l "$out"
