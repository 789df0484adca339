"""Signals read from text: question, scope, small talk, risk, commands. Pure and fast.

Deterministic on purpose: a rule that fires on a signal must fire the same way in a test,
in `vigil rules test` and in production, and deciding must never need a model call.
"""

from __future__ import annotations

import re

_WORDS = re.compile(r"[a-z0-9']+")


def _phrases(*items: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(items) + r")", re.I)


_INTERROGATIVE = _phrases(
    r"how (?:do|does|can|could|should|long|much|many|to)", r"what (?:is|are|does|do|should|happens|if)",
    r"why (?:is|are|does|do|did|can't|cannot|won't)", r"where (?:can|do|is|are)", r"when (?:will|can|do|does)",
    r"is (?:there|it possible)", r"can (?:i|you|we|someone)", r"could (?:i|you|we)",
    r"do (?:i|you|we)", r"does (?:it|this|the)", r"would (?:it|you)", r"which ",
    r"any (?:way|idea|chance)", r"i (?:need|want|would like|'d like) to (?:know|find out|understand)",
    r"wondering", r"not sure (?:how|what|why|if|whether)",
    r"(?:did|was|am|have|will|would) (?:i|you|we|my|it)\b", r"is (?:my|this|that|it|there)\b",
    r"are (?:you|my|these|there)\b", r"has (?:my|it|the)\b", r"anything (?:i|we) can",
    r"what (?:should|can|do) (?:i|we)", r"what (?:are )?(?:the )?next steps?", r"w(?:h)?at am i doing", r"what'?s (?:the|a|an)\b",
    r"do(?:es)? (?:\w+ ){0,3}(?:support|allow|have|offer|let|provide)\b", r"how (?:\w+ )?(?:i|we) (?:can|could|do)\b")
# A sentence that opens with a question word or an auxiliary verb: "Is search broken?" (or
# whose clause after a comma, "and", "but" or "so" does). Read one sentence at a time: from a
# sentence's start, check once that it ends in "?", then look for the opening inside it.
# Scanning to the "?" from every question word instead took quadratic time on a long
# sentence full of them, and so did "\s*" retried from every newline of a long run (issue 11).
_OPENS_QUESTION = re.compile(
    r"(?:^|(?<=[.!?\n]))(?=[^.!?\n]*\?)"  # the start of a sentence that ends in "?"
    r"(?:^|(?<=[.!?\n])\s*|[^.!?\n]*?(?:,\s*|\b(?:and|but|so)\s+))"
    r"(?:how|what|why|where|when|which|who|is|are|am|do|does|did|"
    r"can|could|will|would|should|shall|has|have|may)\b", re.I)
# Problems reported without a question mark are still asks for help.
_PROBLEM = _phrases(
    r"can'?t", r"cannot", r"unable to", r"not able to", r"doesn'?t work", r"does not work",
    r"isn'?t working", r"is not working", r"not working", r"won'?t (?:let|load|accept|work)",
    r"keeps? (?:failing|crashing|saying|showing|giving)", r"error", r"fail(?:s|ed|ing)?\b",
    r"broken", r"stuck", r"issue with", r"problem with", r"trouble", r"never (?:arrived|received|got)",
    r"didn'?t (?:receive|get|arrive|work)", r"(?:doesn|don|didn|isn|wasn|hasn|haven|won|can)[’']?t (?:\w+ )?"
    r"(?:work|load|open|start|show|let|accept|connect|sync|play|log|sign|find|see|get|receive|download|install|"
    r"update|recover|access|change|redeem|join|cancel|unenroll)", r"(?:it'?s|its|is) (?:gone|missing|not there)",
    r"(?:crash|freez|lag|disconnect)(?:es|ed|ing|s)?\b", r"\bbug\b", r"hasn'?t been working", r"stopped working",
    r"(?:still )?(?:got|get|getting) charged", r"(?:never|didn'?t) (?:got|get) (?:the|my)", r"haven'?t (?:received|got)", r"wrong (?:item|size|color|colour|charge|amount)",
    r"nothing (?:happens|is happen|happened)", r"stays? (?:at|empty|blank)", r"doing (?:something )?wron",
    r"(?:so|really|very|too) slow", r"lost (?:my|the|access)", r"i(?:'ve| have)? lost\b",
    r"(?:got|was|been|were|am|is) (?:\w+ )?(?:banned|suspended|terminated|locked out|blocked|disabled|"
    r"charged twice|double charged)", r"locked out", r"not (?:receiving|getting|loading|showing)",
    r"(?:didn'?t|did not|doesn'?t|does not|don'?t) (?:solve|fix|help|resolve)", r"still (?:says|shows|showing|charging)",
    r"not (?:imported|appearing|solved|resolved|fixed|showing up)", r"(?:idk|don'?t know|do not know) what to do")
_REQUEST = _phrases(r"i (?:want|need|would like|'d like) to", r"please (?:help|advise|tell|let me know|explain)",
                    r"help me", r"how to ")
# Needs said without a question: "I'm looking for a site that ...", "I need help with my
# account", "kindly assist", "Can y'all please fix it", "HELP!". Misspelt and texting forms too.
_NEED = _phrases(
    r"i(?:'m| am) (?:looking|searching) for", r"looking for (?:a|an|some|the) (?:way|site|app|tool|option|setting)",
    r"i (?:really )?need (?:a |an |some |your |to |help|assistance|support)", r"need (?:help|assistance|support)\b",
r"(?:i|we)(?:'d| would) like (?:to|a|an)", r"i want (?:to|a|an|my)",
    r"(?:please|pls|plz|kindly) (?:\w+ )?(?:help|assist|advise|advice|explain|tell)",
    r"(?:can|could|would) (?:u|you|y'?all|someone|somebody|anyone) (?:please |pls |plz )?(?:help|tell|explain|advise)",
    r"help\s*!", r"he{2,}l+p", r"help (?:pls|please|plz)", r"any (?:suggestions?|advice|help|tips|ideas?)\b",
    r"(?:anyone|anybody|somebody|someone) (?:know|knows|have|has|can|could|else)\b",
    r"(?:is|are|i's) there (?:a|an|any|some)\b", r"what'?s the (?:best|fastest|easiest|quickest|right) way",
    r"the (?:best|fastest|easiest|quickest) way to", r"is it possible", r"trying to (?:\w+)")
# Asking the support team to do something for this customer: a request, but one for the
# analyst to carry out ("kindly change the status", "we need your support to delete ..."),
# not one that knowledge answers.
_ASK_TO_ACT = _phrases(
    r"(?:please|pls|plz|kindly) (?:\w+ )?(?:fix|check|remove|delete|change|add|set|reset|restore|give|send|update|"
    r"share|confirm|provide|correct|arrange|let|look|expedite|call|dm|contact|unban|unlock|refund|cancel|deploy|resolve|"
    r"install|keep|shut|stop|sort|handle|process|approve|escalate|investigate)",
    r"(?:we|they) (?:really )?need (?:a|an|to|your)\b",
    r"(?:can|could|would) (?:u|you|y'?all|someone|somebody|anyone) (?:please |pls |plz )?\w+",
    r"(?:need|want) (?:your|you) (?:\w+ )?(?:support|help|assistance) to", r"(?:any|need|kindly|please) update")
# A need written as a title: "Forwarding several emails at once in gmail." (a short message
# that opens with a verb in -ing, the way a subject line or an FAQ heading names a task).
_TITLE = re.compile(r"^\W*(?!(?:thanks|thank|good|morning|evening|nothing|everything|something|anything|"
                    r"bring|king|spring|ring|thing|during|sing|string)\b)[A-Za-z]{3,}ing\b[^.!?\n]*[.!]?\s*$", re.I)
# Asking about one specific thing's progress is for the analyst to look up, not knowledge.
_STATUS_ONLY = _phrases(r"any (?:update|news)", r"still waiting", r"status of (?:my|the|ticket)",
                        r"eta\b", r"following up", r"just checking")
_LOOKUP = _phrases(r"where(?: is|'s) my (?:order|package|parcel|delivery|refund)\b(?! is at)",
                   r"is my (?:\w+ ){0,2}(?:subscription|account|membership|order|package|parcel)\b.{0,12}"
                   r"\b(?:active|valid|on its way|shipped|coming)",
                   r"can you (?:please )?(?:check|look) (?:if|whether|on|at my|my|the status)")

_SMALL_TALK = _phrases(
    r"thanks?", r"thank you", r"thx", r"ty", r"cheers", r"great", r"perfect", r"awesome",
    r"ok(?:ay)?", r"got it", r"that (?:really )?(?:worked|works|helped|helps|fixed it)", r"all good",
    r"no worries",
    r"hi", r"hello", r"hey", r"good (?:morning|afternoon|evening)", r"appreciate it", r"sounds good",
    r"will do", r"noted", r"you'?re welcome", r"have a (?:nice|good|great) day", r"bye")

_RISKS = {
    "business_impact": _phrases(
        r"revenue", r"losing (?:money|sales|customers|business|dollars|income|clients)", r"lost (?:sales|revenue|business)",
        r"production\b.{0,40}\b(?:down|crash|fail|stopp|not working)",
        r"(?:down|crash(?:ed)?|failed|not working)\b.{0,30}\bproduction\b", r"prod(?:uction)? outage", r"(?<!power )outage",
        r"business[- ]critical", r"deadline", r"go[- ]live (?:is|date)\b",
        r"launch (?:is|tomorrow|today)", r"can'?t (?:sell|operate|ship)", r"blocking (?:our|the|all)",
        r"critical (?:issue|incident|problem|system|outage|failure|bug)", r"(?:very |extremely )?urgent(?:ly)?\b.{0,60}"
        r"\b(?:business|customers|clients|production|branches|tellers|transactions|payments|sales)",
        r"(?:affecting|impacting|affects|impacts) (?:the |our )?business",
        r"\b(?:business|customers|clients|production|branches|tellers|transactions|payments|sales)\b.{0,80}\burgent",
        r"(?:resolution|fix|solution|delivery)(?: date)? (?:before|by) (?:the )?end of",
        r"no (?:session|connection|access) (?:on|to) (?:the )?production", r"severely impact",
        # "the system is down", but not the customer asking whether a service is down ("are
        # online services down for GTA5?": an outage for everyone, not their business) nor
        # Windows' CRITICAL_SERVICE_FAILED stop code.
        r"(?<!your )(?<!your online )(?:system|server|site|integration|(?<!critical )service|module|platform|portal|"
        r"application|checkout|payments?)s? (?:is |are |has |have )?"
        r"(?:down|failed|crashed|stopped)(?![^.!?\n]{0,40}\?)", r"all (?:\w+ ){0,2}(?:failed|down|stopped)", r"from tomorrow",
        r"(?:transactions?|payments?|orders?|transfers?|integrations?) (?:are |is )?not (?:being )?"
        r"(?:processed|going through|working)",
        r"(?:on|in) production\b.{0,40}\b(?:error|fail|issue|problem|not working|stuck|crash)",
        r"(?:opens?|opening|launch(?:es|ing)?|event) (?:is |on )?(?:this|next) (?:monday|tuesday|wednesday|"
        r"thursday|friday|saturday|sunday|week)", r"turning (?:\w+ )?away", r"losing (?:clients|participants|members)",
        # A business customer working around a failing system by hand, or losing working time.
        r"manual(?:ly)? intervention", r"delay(?:s|ing)? (?:on|in|to)\s+(?:\w+\s+){0,2}(?:work|operations|business)\b",
        r"(?:work|job|business|livelihood|income) (?:is )?on the line",
        r"costing (?:me|us) (?:money|\$|£|€|\d)",
        r"(?:my|our) (?:clients|customers|guests|students|patients) (?:can'?t|cannot|couldn'?t|are unable|were unable|"
        r"aren'?t able)",
        r"(?:my|our) (?:business|company|shop|store|restaurant|website|site|online store) (?:is|was|has been|went) "
        r"(?:down|offline|suspended)", r"(?:can'?t|cannot|unable to) (?:work|do my job|run (?:my|our) business)\b",
        r"(?:staff|employees|team) (?:can'?t|cannot|are unable|is unable)"),
    "widespread": _phrases(
        r"all (?:of )?(?:our|my) (?:users|customers|staff|employees|stores|orders|branches|offices)",
        r"every(?:one|body)(?: else)? (?:is |are |has |have )?(?:having|getting|seeing|facing|reporting|experiencing|"
        r"affected|complaining)", r"every (?:customer|user|branch|store)",
        r"(?:multiple|several|many|a bunch of|lots of|a lot of) (?:customers|users|accounts|regions|sites|"
        r"locations|people|branches|offices|stores)", r"more than (?:one|1|\d+) (?:branch|site|store|office|"
        r"region|location|user|customer)", r"whole (?:team|company|office)", r"nobody can", r"no one can",
        r"across (?:all|every|the) (?:regions|sites|stores|branches)", r"other (?:customers|users|people) (?:are|have)",
        r"(?:people|customers|users) .{0,40}(?:saying|reporting|complaining about) the same", r"(?<=#)\w*outage",
        r"none of us", r"all of us", r"(?:team|group|staff) of \d+",
        r"people (?:have been |are |keep )?(?:telling|saying|reporting)",
        r"(?:getting|seeing|having) the same (?:thing|issue|problem|error)",
        r"(?:all|many|most|several|multiple|other|both) (?:of )?(?:the |our )?(?:customers|users|clients|members|"
        r"employees|staff|agents|participants)\b.{0,40}\b(?:can'?t|cannot|couldn'?t|unable|fail|getting|having|seeing)",
        r"(?:customers|users|clients) (?:couldn'?t|can'?t|cannot|are unable|were unable)",
        r"(?:me|i) and (?:\d+|two|three|four|five|several|my) (?:other )?(?:coworkers|colleagues|friends|people|users)",
        r"for all (?:the )?(?:customers|users|clients)",
        r"(?:with|for|affects?|affecting|to|on) all (?:the |our )?(?:users|customers|clients|branches|agents|tellers)",
        r"when (?:our |the )?(?:customers|users|clients|members) (?:try|tries|tried|are trying|attempt)",
        r"(?:daily|many|several|lots of) complaints", r"down for (?:everyone|everybody|all|many)\b",
        r"(?:whole|entire) (?:country|city|area|region|state|neighbou?rhood|street|building)\b", r"nation-?wide",
        r"(?:outage|down|no service|no signal) (?:in|across) (?:my|our|the|all|the whole) (?:area|region|city|country|state)",
        r"(?:thousands|hundreds|millions) of (?:people|users|customers|players|subscribers)",
        r"(?:i'?m|i am) not the only one", r"(?:it'?s|its|it is) not just me",
        # "the servers are down" said as a fact: an outage for everyone (asked, it is a question).
        r"(?:the |your )?servers? (?:is |are )?(?:down|offline)\b(?![^.!?\n]{0,40}\?)",
        # "40 users can't log in", not a plan that "allows 3 users".
        r"\b\d+\s+(?:customers|users|coworkers|colleagues|stores|branches) (?:are |have |all |were )?(?:can'?t|cannot|"
        r"unable|affected|reported|reporting|complain|getting|having|seeing|facing|locked)"),
    "security": _phrases(
        # Words of a security event, not the same words naming a product, a team or an error:
        # GTA's "stolen yacht" mission, a bank's "fraud alert", "401 Unauthorized", "anti-malware".
        r"hack(?:ed|er|ing)", r"(?<!401 )unauthori[sz]ed",
        r"fraud(?:ulent)?(?! (?:department|team|alert|prevention|protection|detection|check))",
        r"(?:was|were|got|been|had|have|has) (?:\w+ )?stolen", r"stolen (?:card|credit|identity|phone|account|laptop|"
        r"device|password|money|data|details|information|wallet|bag|package|parcel)", r"breach",
        r"(?:data|information|details|password)s? (?:was |were |got )?leak", r"leaked (?:my |our |the )?(?:data|information|details|passwords?)",
        # Phishing aimed at this customer, not a phishing site reported to the host that serves it
        # ("#phishing ... phishing sites hosted by ...": an abuse report, nobody here attacked).
        r"(?<!#)phishing(?!\s+(?:sites?|pages?|urls?|domains?)\b)", r"compromised",
        r"someone\b.{0,40}\b(?:logged in|logged into|signed in(?:to)?|logging in(?:to)? my|accessed|used my|"
        r"(?:been )?using my (?:\w+ )?account|placed orders?)",
        r"(?:someone|somebody) (?:has )?been in(?:to)? my account", r"orders? .{0,30}\bi (?:never|didn'?t) (?:place|make|order)",
        r"password was changed.{0,40}\b(?:didn'?t|did not|wasn'?t me)",
        r"(?:someone|somebody)\s+(?:got|get|broke|has got)\s+in(?:to)?\s+my",
        # Someone else changed the account; "trying to log into my account" alone is most often
        # the customer's own login problem, and an attempt that failed is not a break-in.
        r"(?:someone|somebody|they|hackers?)\b.{0,40}\b(?:has |have )?changed (?:my|the) (?:password|e-?mail|name|"
        r"recovery|phone|security)",
        r"\b(?:didn'?t|did not|never) (?:placed?|made|make|order(?:ed)?|buy|bought|authori[sz]ed?|purchased?) "
        r"(?:these|this|those|that|it|a|an|the)\b",
        r"(?:wasn'?t|was not) me\b", r"lost (?:my |our |all )?(?:photos|files|data|documents|work|pictures)",
        r"los(?:e|t|ing) (?:everything|all (?:of )?(?:my|our) (?:\w+ )?(?:files|data|work|photos|documents))",
        r"someone else'?s (?:order|data|details|information|address|name|account)", r"privacy (?:problem|issue|breach)",
        r"(?:unknown|strange|suspicious|unrecogni[sz]ed|unauthori[sz]ed) (?:charges?|transactions?|purchases?|payments?|"
        r"log-?ins?|sign-?ins?)\b", r"(?:e-?mail|password|phone number|recovery (?:e-?mail|phone)) (?:was|were|got|has been|"
        r"had been) changed\b(?! successfully)", r"(?:taken over|hijack(?:ed|ing)?)\b", r"sim swap",
        r"(?:charges?|purchases?|transactions?|payments?) (?:that )?(?:i|we) (?:never|didn'?t|did not) (?:make|made|"
        r"authori[sz]e|place|placed|order|ordered|buy|bought)\b",
        r"identity theft", r"(?<!anti )(?<!anti-)malware", r"(?<!corona)(?<!corona )virus(?:es)? (?:on|in)\b", r"infected (?:with|by)",
        r"data loss", r"lost (?:all )?(?:my |our )?data"),
    "negative_emotion": _phrases(
        r"furious", r"unacceptable", r"outrageous", r"disgust(?:ed|ing)", r"worst",
        r"lawyer", r"legal action", r"\bsue\b",
        # Calling the company a scam, not asking whether a message is one or naming a phishing scam.
        r"(?:is|what|such|total|complete|a|you|y'?all|bunch of) (?:\w+ )?(?<!phishing )scam(?:mers| company| artists?)?\b"
        r"(?!\s*\?)",
        r"angry", r"terrible", r"horrible", r"pathetic",
        r"\w*fuck", r"shit", r"wtf", r"(?:so|i'?m|im) done with", r"so done\b", r"flip (?:the \w+ )?out",
        r"fed up", r"sick of", r"never (?:again|shop(?:ping)? (?:here|with you)|buy(?:ing)? from you)",
        r"(?:close|cancel) my account", r"done with (?:you|y'?all|y’all|this company)",
        r"tak(?:e|ing) (?:my|our) business elsewhere", r"cancel everything", r"seriously\?", r"are you (?:kidding|serious)",
        r"unbelievable", r"switch(?:ing)? to (?:a )?competitor", r"complain(?:t)? to",
        r"waste of (?:time|money)", r"incompetent", r"(?:is|what|such) (?:a |an )?(?:total |complete |absolute )?joke\b",
        r"crooks?\b", r"thie(?:f|ves)\b", r"boycott", r"legal (?:action|claim)", r"shame on (?:you|y'?all)", r"rip-?off",
        r"too lazy", r"lazy ass", r"why the hell (?:are|is|do|did|would) (?:you|y'?all)\b",
        r"(?:lose|losing|lost) (?:a|another|your|this) (?:loyal )?customer",
        r"(?:not|n't) (?:\w+ ){0,3}(?:to )?(?:continue|stay|remain)(?:ing)? (?:being )?(?:a |your )?customer",
        # Insults aimed at the company or product, and taking the complaint elsewhere.
        r"disgrace(?:ful)?", r"useless", r"rubbish", r"garbage", r"appalling", r"atrocious", r"shameful", r"livid",
        r"pissed", r"hate (?:you|y'?all|your|this (?:company|app|service))\b",
        r"(?:you|y'?all|service|app|support|company) (?:guys |really |just )?sucks?\b", r"robb(?:ing|ery|ed) (?:me|us|people)",
        r"stealing (?:my|our|from|people)", r"report(?:ing)? (?:you|y'?all|this company) to", r"better business bureau",
        r"\bbbb\b", r"ombudsman", r"regulator", r"attorney general", r"class action"),
}
_VIP_TAGS = frozenset({"vip", "enterprise", "key_account", "strategic"})
_TEST_ENV = _phrases(r"test(?:ing)? environment", r"staging", r"sandbox", r"just (?:a )?test(?:ing)?",
                     r"this is a test", r"test (?:ticket|order|account)", r"\bdemo (?:account|store)")
_COMMAND = re.compile(r"@vigil\b[\s:,]*(summary|summari[sz]e|useful|wrong|helpful|not helpful)?", re.I)
_COMMAND_NAMES = {"summary": "summary", "summarise": "summary", "summarize": "summary",
                  "useful": "useful", "helpful": "useful", "wrong": "wrong", "not helpful": "wrong"}


def is_question(text: str, problems_count: bool = True) -> bool:
    """The message asks for something: a question, a request for help, or (from a customer)
    a reported problem. An analyst's "not a store error" is a statement, not a question."""
    return "?" in text or bool(_INTERROGATIVE.search(text) or _REQUEST.search(text) or _NEED.search(text)
                               or _ASK_TO_ACT.search(text) or _TITLE.match(text) or (problems_count and _PROBLEM.search(text)))


def in_scope(text: str) -> bool:
    """How-to, error or troubleshooting, not a lookup of one order or a chase for progress.

    A question mark alone is not enough: "In progress for a WEEK?" asks nothing knowledge
    can answer. A short chase ("still failing, any update?") is about this ticket only.
    """
    if not (_INTERROGATIVE.search(text) or _OPENS_QUESTION.search(text) or _PROBLEM.search(text)
            or _REQUEST.search(text) or _NEED.search(text) or _TITLE.match(text)):
        return False
    if _LOOKUP.search(text):
        return False
    return not (_STATUS_ONLY.search(text) and len(_WORDS.findall(text.lower())) <= 12)


def is_small_talk(text: str) -> bool:
    """Only greetings, thanks or acknowledgements: nothing to answer."""
    rest = _SMALL_TALK.sub(" ", text)
    return "?" not in text and len(_WORDS.findall(rest.lower())) <= 2


def risks(text: str, tags: tuple[str, ...] | list[str] = ()) -> list[str]:
    """The risk kinds the message shows, in a fixed order."""
    # Capitals alone are not strong emotion: on real messages they were a German ad complaint
    # and "FIX. THE. ROKU. APP." as often as anger, and anger says itself in words.
    found = [kind for kind, pattern in _RISKS.items() if pattern.search(text)]
    if _VIP_TAGS & {t.lower() for t in tags}:
        found.append("vip")
    return found


def risk_cue(kind: str, text: str) -> str:
    """The words that showed a risk kind ("hacked", "all our stores"): a flag note names them."""
    if kind == "vip":
        return "a VIP tag on the ticket"
    found = _RISKS[kind].search(text) if kind in _RISKS else None
    return found.group(0) if found else ""


_TEST_TAGS = frozenset({"test", "testing", "staging", "sandbox"})


def is_test_environment(text: str, tags: tuple[str, ...] | list[str] = ()) -> bool:
    """The conversation (or a tag) says this is a test, so its alarms are not real."""
    return bool(_TEST_ENV.search(text) or _TEST_TAGS & {t.lower() for t in tags})


def command(text: str) -> str:
    """What an analyst asked of the plugin with `@vigil ...`: summary, useful, wrong, or ''."""
    match = _COMMAND.search(text)
    if not match:
        return ""
    return _COMMAND_NAMES.get((match.group(1) or "").lower(), "summary" if not match.group(1) else "")
