import os,sys,time
pid=int(sys.argv[1]); out=open(sys.argv[2],'w'); status=sys.argv[3]
def snap():
    d={}
    for t in os.listdir(f'/proc/{pid}/task'):
        try:
            comm=open(f'/proc/{pid}/task/{t}/comm').read().strip()
            st=open(f'/proc/{pid}/task/{t}/stat').read().rsplit(')',1)[1].split()
            d[t]=(comm,int(st[11])+int(st[12]))
        except Exception: pass
    return d
prev=snap(); t0=time.time()
while os.path.exists(f'/proc/{pid}'):
    time.sleep(2)
    try: cur=snap()
    except Exception: break
    agg={}
    for t,(c,v) in cur.items():
        if t in prev:
            key=c
            agg[key]=agg.get(key,0)+(v-prev[t][1])
    prev=cur
    phase=open(status).read().strip().split('\n')[-1][:70] if os.path.exists(status) else ''
    top=sorted(agg.items(),key=lambda x:-x[1])[:6]
    out.write(f"t={time.time()-t0:.0f}s [{phase}] "+", ".join(f"{c}:{v}%" for c,v in top if v>0)+"\n"); out.flush()
