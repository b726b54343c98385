# Issue 13 ETA (session 13, branch eta13). base = main 57b0f42's harness (/work/eta13-base-bin/contention), new = eta13 b743b96.
# Order: base1, new1 (07:00, 07:20; load 7-9), base2, new2 (08:00; load 2.8-3.6). Load before/after is in each .txt.
contention stadium-onsale --mode in-process --seconds 120 --json eta13-session13-{base1,new1,base2,new2}.json
