# Reference values for crates/bulkhead-model/tests/black76_reference.rs (mpmath 1.3): python3 black76_reference.py
import mpmath as m
m.mp.dps = 50
def N(x): return m.ncdf(x)
def n(x): return m.npdf(x)
def bs(S,K,T,v,r):
    S,K,T,v,r=map(m.mpf,(S,K,T,v,r))   # exact binary64 inputs
    sq=m.sqrt(T); d1=(m.log(S/K)+(r+v*v/2)*T)/(v*sq); d2=d1-v*sq
    D=m.exp(-r*T)
    c=S*N(d1)-K*D*N(d2); p=K*D*N(-d2)-S*N(-d1)
    return c,p,N(d1),N(d1)-1,n(d1)/(S*v*sq),S*n(d1)*sq
cases=[(42.0,40.0,0.5,0.2,0.1),(49.0,50.0,20.0/52.0,0.2,0.05),(100.0,100.0,1.0,0.2,0.05),(100.0,150.0,0.25,0.3,0.01),
       (65000.0,70000.0,0.1,0.5,0.0),(100.0,101.0,1.0/(365.0*24.0),0.8,0.0),(50.0,30.0,5.0,0.4,0.03),(100.0,95.0,0.5,0.05,0.02)]
def f(x): return m.nstr(x,25,min_fixed=-30,max_fixed=30)
for c in cases:
    r=bs(*c)
    print("    case(%r, %r, %r, %r, %r, [%s]),"%(c+(", ".join('"%s"'%f(x) for x in r),)))
print("# black76")
def b76(F,K,T,v,r):
    F,K,T,v,r=map(m.mpf,(F,K,T,v,r))
    sq=m.sqrt(T); d1=(m.log(F/K)+v*v*T/2)/(v*sq); d2=d1-v*sq; D=m.exp(-r*T)
    c=D*(F*N(d1)-K*N(d2)); p=D*(K*N(-d2)-F*N(-d1))
    g=D*n(d1)/(F*v*sq); vega=F*D*n(d1)*sq; base=-F*D*n(d1)*v/(2*sq)
    return [c,D*N(d1),g,vega,base+r*c],[p,-D*N(-d1),g,vega,base+r*p]
for c in [(19.0,19.0,0.75,0.28,0.10),(60000.0,70000.0,0.1,0.8,0.0),(100.0,90.0,0.5,0.3,0.05),(20.0,25.0,2.0,0.15,0.03)]:
    cc,pp=b76(*c)
    for kind,vals in (("Call",cc),("Put",pp)):
        print("    (%s, %r, %r, %r, %r, %r, [%s]),"%((kind,)+c+(", ".join('"%s"'%f(x) for x in vals),)))
