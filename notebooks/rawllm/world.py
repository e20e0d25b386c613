# Generated from notebooks/00_raw_ops.ipynb by notebooks/export.py. Do not edit: change the notebook and re-export.

import json
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path


NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                "fourteen fifteen sixteen seventeen eighteen nineteen twenty").split()


IRREGULAR_PLURALS = {
    "mouse": "mice", "goose": "geese", "sheep": "sheep", "deer": "deer", "fish": "fish", "moose": "moose",
    "child": "children", "person": "people", "foot": "feet", "tooth": "teeth", "ox": "oxen",
    "leaf": "leaves", "loaf": "loaves", "wolf": "wolves", "scarf": "scarves", "knife": "knives",
    "shelf": "shelves", "calf": "calves", "tomato": "tomatoes", "potato": "potatoes", "mango": "mangoes",
    "starfish": "starfish", "reindeer": "reindeer", "jellyfish": "jellyfish", "buffalo": "buffaloes",
}


ARTICLE_EXCEPTIONS = {"unicorn": "a", "uniform": "a", "unicycle": "a", "ukulele": "a", "useful": "a",
                      "one": "a", "hour": "an", "honest": "an"}


def article(phrase: str) -> str:
    """'a' or 'an' before a phrase, by its first sound: article('owl') -> 'an owl'."""
    first = phrase.split(" ", 1)[0].lower()
    art = ARTICLE_EXCEPTIONS.get(first) or ("an" if first[0] in "aeiou" else "a")
    return f"{art} {phrase}"


def plural(noun: str) -> str:
    """The plural of a noun; in a compound only the last word changes: 'teddy bear' -> 'teddy bears'."""
    head, _, last = noun.rpartition(" ")
    if last in IRREGULAR_PLURALS:
        last = IRREGULAR_PLURALS[last]
    elif last.endswith(("s", "x", "z", "ch", "sh")):
        last += "es"
    elif last.endswith("y") and last[-2] not in "aeiou":
        last = last[:-1] + "ies"
    else:
        last += "s"
    return f"{head} {last}" if head else last


def table(text: str, width: int) -> list[list[str]]:
    """Rows of `width` fields from a '|'-separated block of text (line ends count as separators)."""
    cells = text.strip().replace("\n", "|").split("|")
    assert len(cells) % width == 0, f"table of width {width} has {len(cells)} cells"
    return [cells[i:i + width] for i in range(0, len(cells), width)]


def count_of(n: int, noun: str) -> str:
    """A number of things in words: count_of(3, 'mouse') -> 'three mice'."""
    return f"{NUMBER_WORDS[n]} {noun if n == 1 else plural(noun)}"


IRREGULAR_PAST = dict(pair.split(":") for pair in """
be:was begin:began bend:bent bite:bit blow:blew break:broke bring:brought build:built buy:bought
catch:caught choose:chose come:came creep:crept cut:cut dig:dug do:did draw:drew drink:drank drive:drove
eat:ate fall:fell feed:fed feel:felt find:found fly:flew forget:forgot freeze:froze get:got give:gave
go:went grow:grew hang:hung have:had hear:heard hide:hid hit:hit hold:held hurt:hurt keep:kept
know:knew lay:laid lead:led leave:left lend:lent let:let light:lit lose:lost make:made meet:met pay:paid
put:put read:read ride:rode ring:rang rise:rose run:ran say:said see:saw sell:sold send:sent set:set
sew:sewed shake:shook shine:shone shoot:shot shut:shut sing:sang sink:sank sit:sat sleep:slept
slide:slid speak:spoke spend:spent spin:spun spread:spread stand:stood steal:stole stick:stuck
sting:stung sweep:swept swim:swam swing:swung take:took teach:taught tear:tore tell:told think:thought
throw:threw wake:woke wear:wore win:won wind:wound write:wrote picnic:picnicked leap:leapt
""".split())


DOUBLE_FINAL = set("""
hop skip stop drop clap hug plan pat tap nap jog grab rub trip wag chat shop step nod beg hum sip zip
drip pop mop dip flap flip skid slip spot tug trot pin plop pet rip scrub strum drum snap stir swap tip
wrap chop knit shrug sob trap run swim dig sit get put win spin begin set cut hit shut let forget
""".split())


def past(phrase: str) -> str:
    """Past tense of a verb phrase: past('swing on the swings') -> 'swung on the swings'."""
    verb, _, rest = phrase.partition(" ")
    if verb in IRREGULAR_PAST:
        verb = IRREGULAR_PAST[verb]
    elif verb in DOUBLE_FINAL:
        verb += verb[-1] + "ed"
    elif verb.endswith("e"):
        verb += "d"
    elif verb.endswith("y") and verb[-2] not in "aeiou":
        verb = verb[:-1] + "ied"
    else:
        verb += "ed"
    return f"{verb} {rest}" if rest else verb


def gerund(phrase: str) -> str:
    """The -ing form of a verb phrase: gerund('dig a hole') -> 'digging a hole'."""
    verb, _, rest = phrase.partition(" ")
    if verb.endswith("ie"):
        verb = verb[:-2] + "ying"
    elif verb in DOUBLE_FINAL:
        verb += verb[-1] + "ing"
    elif verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")) and verb != "be":
        verb = verb[:-1] + "ing"
    else:
        verb += "ing"
    return f"{verb} {rest}" if rest else verb


GIRL_NAMES = tuple("""
Mia Lily Emma Ava Zoe Ella Ruby Lucy Grace Chloe Anna Sophie Nora Ivy Rosie Maya Leah Hannah Sara Amy
Julia Clara Alice Eva Isla Molly Daisy Poppy Hazel Violet Stella Luna Freya Elsie Iris Jade Kira Lena
Lola Mila Nina Olive Pia Rita Tess Uma Vera Wren Yara Zara Abby Bella Cora Dora Edie Fern Gemma Holly
Ingrid Josie Kate Lara Megan Nell Opal Pearl Quinn Rae Sadie Tara Willa Amara Aisha Bea Carmen Delia
Esme Faye Gina Hope Imogen June Kayla Lucia Maisie Naomi Orla Priya Rosa Sienna Tilly Wendy Ana Mei
Yuki Aiko Nadia Leila Fatima Amina Sofia Elena Marta Ines Aria Noor Hana Kiko Lina Tamsin Beth Ada
Asha Bonnie Celia Dina Elif Flora Greta Heidi Ila Jasmine Keira Lottie Maria Nia Odette Paloma Rhea
Suki Thea Talia Viola Winnie Xia Yasmin Zainab Agnes Bianca Cleo Daphne Erin Frida Gwen Harriet
Alba Birdie Cassie Dalia Effie Fleur Goldie Hattie Isadora Juno Kaia Lyra Marnie Nova Ottilie Petra
Romy Saskia Tallulah Ursula Verity Wilhelmina Zelda Anouk Belle Constance Dorothy Elodie Florence Gracie
Honor Iona Jemima Kamala Leonie Mabel Nkechi Olga Pippa Rosalind Seren Tova Undine Xanthe Yolanda Zuri
""".split())


BOY_NAMES = tuple("""
Tom Sam Max Leo Ben Jack Noah Liam Finn Jake Oscar Theo Eli Owen Luke Adam Alex Ryan Dan Hugo Felix
Oliver Harry George Henry Jacob Isaac Kai Milo Ollie Toby Zach Arlo Caleb Dylan Ethan Gabe Ian Joel
Kit Lewis Mason Nate Otto Pete Rory Seth Ted Victor Will Xavier Yusuf Zane Amir Bruno Carlos Diego
Emil Omar Ravi Raj Kenji Hiro Tariq Malik Jamal Luca Marco Nico Pablo Ivan Mateo Sami Ali Arjun Dev
Karim Louis Jonah Reuben Rufus Sid Stan Tim Vince Wes Abe Basil Cody Drew Eddie Fred Gus Hank Jasper
Kyle Lenny Miles Ned Quentin Roy Simon Tony Umar Walter Aaron Billy Cyrus Dominic Elliot Frank Grant
Idris Jonas Kofi Lars Moses Nils Obi Percy Rami Soren Tobias Ugo Vikram Wyatt Yosef Ziggy Angus Bilal
Chen Duncan Erik Fergus Gideon Hamish Ismail Jude Kwame Lorenzo Magnus Nikhil Oren Piotr Rafael Silas
Albie Barnaby Cormac Dexter Ezra Florian Gregor Horace Ibrahim Jolyon Kasper Laszlo Monty Osman Patrick
Rocco Sebastian Thaddeus Ulysses Vaughn Winston Yannick Zeke Alfie Bertie Cedric Digby Ernest Fabian
Gilbert Hector Inigo Jago Kenzo Leopold Mungo Nathaniel Orson Reggie Stanley Tristan Wilfred
""".split())


PET_NAMES = tuple("""
Pip Biscuit Pepper Whiskers Patch Bramble Clover Nutmeg Toffee Button Sunny Bubbles Fluffy Coco Mango
Pebble Puddle Rusty Shadow Snowy Sparky Tumble Waffle Hopper Flash Twinkle Noodle Muffin Peanut Pickle
Cookie Jellybean Bean Dot Fizz Juniper Marble Moss Acorn Basil Cinnamon Dandelion Echo Fudge Ginger
Honey Inky Jingle Kipper Lucky Maple Nibbles Oats Pumpkin Quill Ripple Saffron Thistle Velvet Wiggles
Bumble Chestnut Dusty Ember Fern Goldie Hazelnut Ivy Jasper Keeko Lolly Mittens Nugget Poppy Rolo
Sprout Tiptoe Truffle Wisp Zippy Barley Crumble Dumpling Flicker Gumdrop Nimbus Pudding Sherbet Tango
Bonbon Custard Doodle Fidget Gizmo Hiccup Jigsaw Kettle Liquorice Macaroni Nutkin Parsnip Pretzel Quince
Raisin Scamper Smudge Sootie Tinsel Turnip Walnut Widget Zebedee Blossom Bristle Cobweb Dewdrop Fennel
""".split())


@dataclass(frozen=True)
class Animal:
    name: str
    sound: str
    baby: str
    home: str
    move: str


ANIMALS = tuple(Animal(*row) for row in table("""
dog|barked|puppy|house|ran|cat|meowed|kitten|house|padded|rabbit|squeaked|bunny|burrow|hopped
fox|yelped|cub|den|trotted|bear|growled|cub|den|lumbered|owl|hooted|owlet|nest|flew
duck|quacked|duckling|pond|waddled|hen|clucked|chick|barn|strutted|cow|mooed|calf|barn|wandered
pig|oinked|piglet|barn|trotted|sheep|baaed|lamb|barn|wandered|goat|bleated|kid|barn|skipped
horse|neighed|foal|barn|galloped|donkey|brayed|foal|barn|trotted|mouse|squeaked|baby mouse|burrow|scurried
frog|croaked|tadpole|pond|hopped|squirrel|chattered|kit|tree|scampered|hedgehog|snuffled|hoglet|garden|shuffled
deer|snorted|fawn|forest|leapt|wolf|howled|pup|den|padded|goose|honked|gosling|pond|waddled
swan|hissed|cygnet|pond|glided|penguin|squawked|chick|ice|waddled|seal|barked|pup|sea|flopped
otter|squeaked|pup|river|swam|beaver|grunted|kit|river|paddled|badger|grunted|cub|burrow|shuffled
mole|squeaked|baby mole|burrow|burrowed|robin|chirped|chick|nest|hopped|sparrow|chirped|chick|nest|fluttered
crow|cawed|chick|nest|flapped|parrot|squawked|chick|jungle|flapped|monkey|chattered|baby monkey|jungle|swung
lion|roared|cub|savanna|prowled|tiger|roared|cub|jungle|prowled|elephant|trumpeted|calf|savanna|stomped
giraffe|hummed|calf|savanna|strolled|zebra|brayed|foal|savanna|galloped|hippo|grunted|calf|river|splashed
kangaroo|coughed|joey|savanna|bounced|koala|grunted|joey|tree|climbed|panda|bleated|cub|forest|rolled
tortoise||hatchling|garden|plodded|turtle||hatchling|pond|paddled|snail||baby snail|garden|crept
bee|buzzed||hive|buzzed|butterfly||caterpillar|garden|fluttered|ladybird||larva|garden|crawled
""", 5))


ANIMALS += tuple(Animal(*row) for row in table("""
bat|squeaked|pup|cave|swooped|camel|groaned|calf|desert|plodded|llama|hummed|cria|barn|trotted
hamster|squeaked|pup|house|scurried|pony|neighed|foal|barn|trotted|chicken|clucked|chick|barn|pecked
turkey|gobbled|poult|barn|strutted|peacock|screeched|peachick|garden|strutted|flamingo|honked|chick|pond|waded
pelican|grunted|chick|sea|glided|eagle|screeched|eaglet|nest|soared|woodpecker|tapped|chick|tree|flew
seagull|squawked|chick|sea|swooped|pigeon|cooed|squab|nest|fluttered|crocodile|hissed|hatchling|river|slid
gorilla|grunted|baby gorilla|jungle|climbed|polar bear|growled|cub|ice|padded|reindeer|grunted|calf|forest|trotted
raccoon|chittered|kit|tree|scurried|chipmunk|chirped|kit|burrow|scampered|dragonfly||nymph|pond|darted
dolphin|clicked|calf|sea|leapt|whale|sang|calf|sea|swam|octopus||baby octopus|sea|drifted
crab||baby crab|sea|scuttled|lizard||hatchling|desert|darted|goldfish||fry|house|swam
hare|thumped|leveret|burrow|bounded|stoat|chattered|kit|burrow|darted|toad|croaked|toadlet|pond|crawled
puffin|growled|puffling|sea|flapped|kingfisher|whistled|chick|river|darted|heron|croaked|chick|river|stalked
alpaca|hummed|cria|barn|trotted|walrus|bellowed|calf|ice|flopped|sloth||baby sloth|jungle|crept
meerkat|chirped|pup|savanna|scampered|lemur|purred|baby lemur|jungle|leapt|armadillo|snorted|pup|desert|trundled
newt||eft|pond|wriggled|magpie|chattered|chick|nest|hopped|wren|trilled|chick|nest|flitted
squid||baby squid|sea|squirted|moose|bellowed|calf|forest|strode|yak|grunted|calf|barn|plodded
""", 5))


COLOURS = tuple("""red blue green yellow orange purple pink brown black white grey golden silver
turquoise lilac crimson scarlet navy teal cream maroon amber indigo violet coral mint bronze copper ivory
magenta lavender mustard emerald beige khaki""".split()) + (
    "lime green", "sky blue", "dark green", "pale blue", "bright pink", "cherry red", "lemon yellow", "chocolate brown")
SIZES = ("tiny", "small", "little", "big", "large", "huge")
TOYS = tuple(line.strip() for line in """
ball, kite, teddy bear, doll, toy car, toy truck, toy train, toy boat, drum, whistle, yo-yo,
spinning top, robot, rocket, balloon, bike, scooter, skateboard, wagon, sled, bucket, spade,
umbrella, hat, scarf, cap, backpack, lunchbox, water bottle, book, notebook, pencil case, paintbrush,
ribbon, necklace, bracelet, crown, cape, mask, wand, marble, feather, flag, lantern, torch, blanket,
pillow, cup, mug, bowl, basket, bag, box, jar, key, clock, lamp, frisbee, jump rope, toy dinosaur,
toy horse, rubber duck, music box, piggy bank, teapot, trumpet, guitar, xylophone, tambourine,
flute, recorder, camera, telescope, raincoat, jumper, coat, dress, helmet, sunhat, sweater, tent,
fishing net, watering can, toy tractor, toy plane, paper plane, bell, sticker book, hair clip,
headband, flowerpot, puppet, rag doll, toy soldier, kazoo, scrapbook, wind chime, pinwheel,
kaleidoscope, snow globe, glockenspiel, hula hoop, beach ball, bouncy ball, toy giraffe, sailing boat,
doll's house, treasure chest, pirate hat, wizard hat, harmonica, accordion, banjo, ukulele, violin,
toy castle, paint box, marionette, toy fire engine, toy digger, toy bus, knitted owl, wooden sword,
shield, tiara, locket, pocket watch, magnifying glass, bird feeder, egg timer, fishing rod, compass
""".replace("\n", " ").split(","))


SNACKS = tuple(w.strip() for w in """apple, banana, orange, pear, plum, peach, cherry, strawberry,
grape, cookie, cupcake, muffin, biscuit, sandwich, carrot, cracker, pancake, bun, tomato, egg,
doughnut, pretzel, lollipop, apricot, fig, walnut, chestnut, raspberry, blueberry, blackberry,
sausage, potato, radish, jam tart, scone, waffle, cheese sandwich, rice cake, cinnamon roll, mango,
kiwi, coconut, melon, peanut, gingerbread man, oatcake, dumpling, meatball, mince pie, flapjack,
clementine, nectarine, date, lychee, almond, cherry tomato, breadstick, fish finger, pickle, olive,
crumpet, bagel, croissant, samosa, spring roll, toffee apple, jelly bean, marshmallow, gooseberry, satsuma,
avocado, custard cream, iced bun, macaroon, hazelnut, pistachio, dried apricot, rice ball, cheese straw
""".replace("\n", " ").split(","))
DISHES = tuple(w.strip() for w in """soup, pasta, pizza, spaghetti, rice, porridge, honey, cheese,
ice cream, chocolate, toast, jam, yogurt, pancakes, noodles, curry, stew, fish and chips, apple pie,
carrot cake, lemonade, hot chocolate, strawberries, popcorn, cornflakes, scrambled eggs, tomato soup,
fruit salad, banana bread, rice pudding, cheese on toast, baked beans, omelette, dumplings, sushi,
tacos, waffles, mashed potatoes, peas, grapes, blueberry muffins, watermelon, pineapple""".replace("\n", " ").split(","))


TRAITS = {trait: (opposite, tuple(habits.split(";"))) for trait, opposite, habits in table("""
kind|unkind|always helped anyone who needed a hand;shared {x.his} toys with everyone;never said an unkind word
brave|timid|was not afraid of the dark;always went first when a game looked scary;liked to climb the highest rocks
curious|incurious|asked questions about everything;liked to find out how things worked;peeked under stones to see what lived there
shy|bold|spoke in a very small voice;hid behind {x.his} hands when someone new said hello;liked to play quietly on {x.his} own
clever|foolish|could solve the hardest puzzles;knew the names of all the stars;always had good ideas
funny|serious|made everyone laugh with {x.his} silly faces;told the best jokes in town;could wiggle {x.his} ears
gentle|rough|held baby birds as softly as a feather;always spoke softly;never pushed or shoved
careful|careless|always looked both ways before crossing the road;put every toy back in its box;carried cups with two hands
clumsy|graceful|often tripped over {x.his} own feet;dropped things all the time;once fell into a puddle while waving hello
patient|impatient|could wait a long time without fussing;never minded going last;liked slow jobs like planting seeds
messy|tidy|left socks all over the floor;always had paint on {x.his} nose;never made {x.his} bed
tidy|messy|kept every crayon in its place;folded {x.his} clothes every night;swept the floor without being asked
noisy|quiet|banged on pots and pans;sang at the top of {x.his} voice;stomped when {x.he} walked
quiet|noisy|liked to read in a corner;moved as quietly as a mouse;listened more than {x.he} talked
friendly|unfriendly|said hello to everyone {x.he} met;waved to the postman every morning;made new friends wherever {x.he} went
helpful|unhelpful|always helped to carry the shopping;set the table without being asked;helped the neighbours water their plants
polite|rude|always said please and thank you;never forgot to say sorry;held the door open for others
grumpy|cheerful|frowned at almost everything;did not like being woken up early;grumbled when it was time for a bath
cheerful|grumpy|sang little songs all day long;smiled even on grey days;woke up every morning with a grin
silly|serious|wore {x.his} hat upside down;liked to hop instead of walk;made up funny songs about socks
sleepy|lively|loved long naps in the afternoon;yawned all day long;could fall asleep almost anywhere
playful|serious|turned every walk into a game;loved to play chase;never said no to a game of hide and seek
""", 3)}


TRAITS |= {trait: (opposite, tuple(habits.split(";"))) for trait, opposite, habits in table("""
generous|selfish|gave {x.his} sweets away to friends;always shared {x.his} lunch;gave the biggest slice of cake to someone else
honest|dishonest|always told the truth;owned up when {x.he} broke something;gave back the coins {x.he} found
strong|weak|could carry heavy buckets of water;could lift big rocks;pulled the heaviest wagon up the hill
fast|slow|could run faster than the wind;always won at tag;zoomed everywhere {x.he} went
tall|short|could reach the highest shelf;was taller than all {x.his} friends;could see over the garden wall
adventurous|timid|dreamed of sailing across the sea;loved to explore new places;always wanted to see what was over the next hill
thoughtful|thoughtless|always thought before {x.he} spoke;remembered everyone's birthday;made cards for friends who were ill
creative|unimaginative|loved to paint and draw;made little houses out of boxes;invented new games every day
forgetful|sharp|often forgot where {x.he} put things;once wore odd socks to school;forgot {x.his} lunch twice a week
busy|idle|always had a job to do;never sat still for long;ran from one task to the next
wise|foolish|gave good advice to anyone who asked;knew what to do when things went wrong;thought carefully about every problem
chatty|quiet|talked from breakfast until bedtime;could chat with anyone about anything;told long stories about {x.his} day
dreamy|practical|often gazed out of the window;imagined castles in the clouds;made up stories about faraway lands
sporty|lazy|loved running, jumping and kicking a ball;practised cartwheels every evening;never missed a football match
musical|unmusical|hummed tunes all day long;played the drums on upturned buckets;knew every song on the radio
cheeky|serious|pulled funny faces behind people's backs;hid {x.his} brother's shoes for fun;giggled at the wrong moments
loyal|disloyal|always stood by {x.his} friends;never broke a promise;kept every secret {x.he} was told
hardworking|lazy|swept the yard every morning;never gave up on a hard job;finished {x.his} chores before playing
caring|uncaring|looked after anyone who was poorly;made soup for the neighbours when they were ill;always asked how others were feeling
daring|timid|jumped over the widest puddles;liked to climb right to the top of the climbing frame;tried every new game first
jolly|gloomy|laughed a big booming laugh;whistled while {x.he} worked;always found something to smile about
cautious|reckless|checked twice before jumping;never ran near the pond;always held the railing on the stairs
""", 3)}


FEELINGS = {feeling: tuple(reactions.split(";")) for feeling, reactions in table("""
happy|smiled from ear to ear;laughed and clapped {x.his} hands;did a little dance
sad|began to cry;sat down and sighed;hung {x.his} head
scared|shook like a leaf;held {x.his} breath;covered {x.his} eyes
excited|jumped up and down;could not sit still;ran around in circles
proud|stood up tall;puffed out {x.his} chest;grinned all the way home
worried|bit {x.his} lip;looked around with a frown;twisted {x.his} fingers
cross|stamped {x.his} foot;folded {x.his} arms;went red in the face
lonely|sat all by {x.himself};watched the others play;wished for a friend
surprised|gasped;opened {x.his} eyes wide;nearly fell over
grateful|said thank you again and again;gave a big hug;smiled a warm smile
tired|yawned a big yawn;rubbed {x.his} eyes;sat down on the grass
calm|took a slow deep breath;smiled softly;sat very still
upset|sniffed and wiped {x.his} nose;could not stop frowning;kicked a little stone
glad|sighed with relief;smiled a big smile;laughed out loud
disappointed|let out a long sigh;looked at the floor;pressed {x.his} nose to the window
nervous|held {x.his} breath;tapped {x.his} foot;twisted the edge of {x.his} shirt
bored|sighed a long sigh;kicked {x.his} feet;stared at the ceiling
delighted|beamed at everyone;hugged {x.himself} with joy;twirled round and round
amazed|stared with {x.his} mouth open;rubbed {x.his} eyes in wonder;whispered "wow" under {x.his} breath
frightened|trembled from head to toe;hid under a blanket;squeezed {x.his} eyes shut
puzzled|scratched {x.his} head;frowned and thought hard;tilted {x.his} head to one side
embarrassed|turned as pink as a strawberry;giggled nervously;looked down at {x.his} shoes
thrilled|whooped with joy;punched the air;bounced on {x.his} toes
cheerful|whistled a happy tune;hummed a little song;skipped along
""", 2)}
GOOD_FEELINGS = ("happy", "proud", "glad", "grateful", "excited", "calm", "delighted", "thrilled", "cheerful")
SOLO_FEELINGS = ("happy", "proud", "glad", "excited", "calm", "delighted", "thrilled", "cheerful", "amazed")
BAD_FEELINGS = ("sad", "worried", "upset", "cross", "disappointed", "frightened", "puzzled")


@dataclass(frozen=True)
class Weather:
    name: str
    stem: str
    now: tuple
    arrives: tuple
    instead: tuple


WEATHER = {w.name: w for w in (Weather(name, stem, tuple(now.split(";")), tuple(arrives.split(";")),
                                       tuple(instead.split(";")))
                               for name, stem, now, arrives, instead in table("""
sunny|sun|the sun was shining and the sky was blue;it was a bright sunny day;the warm sun shone down on everyone;the sun was out and the birds were singing|the clouds went away and the sun came out;the sun burst through the clouds|play in the garden
rainy|rain|it was raining;rain was falling from a grey sky;the rain went pitter-patter on the roof;it was a wet and rainy day|dark clouds rolled in and it began to rain;big drops of rain began to fall;the rain came pouring down;it started to rain very hard|jump in the puddles in {x.his} boots
snowy|snow|snow was falling softly;the ground was white with snow;soft snow covered everything;it was a cold and snowy day|snow began to fall;big white flakes of snow came down;it started to snow and did not stop;a snowstorm swept over the town|build a snowman;make snow angels;have a snowball fight
windy|wind|the wind was blowing hard;a strong wind whistled through the trees;it was a wild and windy day;the wind was blowing leaves everywhere|a strong wind began to blow;the wind grew so strong that the trees bent;a cold wind started to howl;the wind blew the chairs over in the garden|fly a kite from the back door
stormy|storm|a storm was raging outside;thunder rumbled and the storm grew closer;it was a dark and stormy day|a big storm rolled in with thunder and lightning;a storm came and the sky flashed with lightning;thunder boomed as a storm began|count the seconds between the flashes and the thunder
foggy|fog|thick fog covered everything;the fog was so thick that nobody could see the trees;it was a grey and foggy morning|a thick fog rolled in;fog crept over the hills and hid everything;a cold grey fog came down|tell stories about the fog monster
cloudy|cloud|grey clouds covered the sky;the sky was full of fluffy clouds;it was a cloudy day|big grey clouds covered the sun;the sky filled with heavy clouds|look for shapes in the clouds
""", 5))}


BAD_WEATHER = ("rainy", "snowy", "windy", "stormy", "foggy")


INDOOR_ACTIVITIES = tuple("""build a blanket fort;bake cookies;paint pictures;play a board game;read stories;
do a jigsaw puzzle;make paper boats;put on a puppet show;make a cardboard rocket;play hide and seek in the house;
draw a map of a treasure island;make pancakes;sing songs;build a tower of blocks;make a den under the table;
play shops with tins from the cupboard;make masks out of paper plates;write a letter to Grandma;
have an indoor picnic on the rug;make music with pots and spoons;build a train out of chairs;
bake a banana loaf;play charades;make a marble run from toilet rolls;sort the button tin by colour;knit a scarf for teddy;
make a scrapbook of holiday photos;practise magic tricks;build a castle from cushions;plant cress in eggshells;
make lemonade;learn a new card game;make a paper chain as long as the hall;dress up as pirates;draw portraits of each other;
make a weather chart;tidy the toy cupboard and find lost treasures;have a dance party in the living room""".replace("\n", " ").split(";"))


INDOOR_ACTIVITIES = tuple(a.strip() for a in INDOOR_ACTIVITIES)


@dataclass(frozen=True)
class Activity:
    base: str
    past: str
    ing: str


def activity(base: str) -> Activity:
    return Activity(base, past(base), gerund(base))


@dataclass(frozen=True)
class Place:
    name: str
    sights: tuple
    spots: tuple
    activities: tuple
    finds: tuple

    @property
    def Name(self) -> str:
        return self.name[0].upper() + self.name[1:]


def _place(name, sights, spots, activities, finds):
    split = lambda text: tuple(item.strip() for item in text.split(";") if item.strip())
    return Place(name, split(sights), split(spots), tuple(activity(a) for a in split(activities)), split(finds))


PLACES = tuple(_place(*row) for row in table("""
the park|a big duck pond;tall oak trees;a red slide;creaky swings;beds of bright tulips;a bandstand;a little wooden bridge|under the slide;behind a bench;in the tall grass;next to the pond;by the swings|play on the swings;feed the ducks;go down the slide;play tag on the grass|acorn;conker;leaf;daisy;feather
the beach|soft golden sand;rolling waves;tiny crabs;noisy seagulls;rock pools;striped deckchairs;a pier with a helter-skelter|under a pile of seaweed;behind a big rock;in a rock pool;next to a sandcastle;inside an old bucket|build a sandcastle;splash in the waves;dig a deep hole;look for crabs in the rock pools|shell;pebble;starfish;feather
the forest|tall pine trees;mossy logs;wild mushrooms;singing birds;a quiet stream;a carpet of bluebells;a fallen oak|under a mossy log;behind a tree;in a pile of leaves;beside the stream;inside a hollow stump|climb a tree;look for mushrooms;listen to the birds;build a den out of sticks|pine cone;acorn;mushroom;stick;leaf
the farm|a red barn;muddy pigs;a green tractor;fields of golden wheat;bales of hay;a muddy duck pond;a scarecrow in a straw hat|behind the barn;in a pile of hay;under the tractor;by the gate;in the hen house|feed the hens;ride on the tractor;pat the lambs;brush the horses|egg;feather;apple
the zoo|sleepy lions;a tall giraffe;noisy monkeys;a big grey elephant;penguins on a rock;a reptile house;flamingos standing on one leg|by the penguin pool;under a bench;near the ice cream stand;behind a bush;next to the gift shop|watch the monkeys;feed the goats;see the lions;ride the little train|sticker
the library|shelves full of books;comfy beanbags;a quiet reading corner;a big globe;a fish tank;a stack of comics;a librarian with spectacles|under a beanbag;behind a shelf;on a windowsill;under a table;in the book return box|read picture books;listen to a story;look at maps;find a book about dragons|bookmark
the school|a busy playground;classrooms with bright pictures;a hamster in a cage;a music room full of drums;a vegetable patch;a wall of paintings|under a desk;in the cloakroom;behind the piano;in the lost property box;on the teacher's desk|paint pictures;sing songs;play hopscotch;build a tower of blocks|gold star
the garden|rows of carrots;tall sunflowers;a little pond;buzzing bees;a wooden shed;a greenhouse full of tomatoes;a bird bath|under a bush;behind the shed;in the flower bed;next to the watering can;under a big leaf|water the plants;dig for worms;pick strawberries;plant seeds|strawberry;snail;flower;tomato;worm
the market|stalls piled with fruit;baskets of fresh bread;buckets of flowers;a man selling cheese;a lady selling honey;a stall of knitted hats;a van selling pies|under a stall;behind a box of apples;next to the flower stall;by the bread basket|buy some apples;taste the cheese;smell the flowers;choose a loaf of bread|apple
the river|an old stone bridge;smooth stones;little silver fish;a family of ducks;a small rowing boat;a heron standing still;a narrowboat|under the bridge;between two rocks;in the reeds;on the muddy bank;by an old tree root|throw pebbles into the water;watch the fish;paddle in the shallow water;sail a paper boat|pebble;stone;stick;feather
the meadow|wild flowers;butterflies;long green grass;a tall old tree;a buzzing beehive;clumps of clover;a wooden stile|in the long grass;under the old tree;near a rabbit hole;behind a haystack|pick flowers;chase butterflies;roll down the slope;have a picnic|daisy;buttercup;ladybird;clover leaf
the lake|calm blue water;a wooden jetty;white swans;little boats;tall reeds;a boathouse;lily pads with white flowers|under the jetty;in the reeds;behind a boat;on a flat rock|skip stones across the water;row a little boat;feed the swans;fish from the jetty|pebble;feather;snail shell
the mountain|steep rocky paths;mountain goats;a cold clear stream;dark pine trees;a view over the valley;a rocky summit;patches of purple heather|behind a big boulder;under a bush;in a crack between two rocks;by the stream|climb to the top;look at the view;eat lunch on a flat rock;spot eagles in the sky|stone;pine cone;flower
the playground|a tall climbing frame;a roundabout;a seesaw;a big sandpit;monkey bars;a wobbly bridge;a spinning cup|under the seesaw;in the sandpit;behind the climbing frame;next to the roundabout|go on the seesaw;swing on the monkey bars;spin on the roundabout;dig in the sandpit|bottle cap
the museum|huge dinosaur bones;shiny old coins;a stuffed polar bear;paintings in gold frames;a model of the moon;a mummy in a glass case;a giant whale skeleton|under a bench;behind a glass case;next to the gift shop;by the big stairs|look at the dinosaurs;draw the old vases;learn about the moon;find the oldest coin|postcard
the bakery|warm loaves of bread;sticky buns;trays of cookies;a big oven;cakes with pink icing;jars of sprinkles;golden croissants|under the counter;behind a sack of flour;next to the big oven;on a high shelf|smell the fresh bread;watch the baker work;choose a cake;help knead the dough|bun
the toy shop|shelves of teddy bears;wooden trains;spinning tops;a huge rocking horse;boxes of puzzles;a wall of kites;a tower of board games|under a shelf;behind the rocking horse;in a basket of balls;next to the till|look at the toys;try the rocking horse;play with a wooden train;wind up a toy robot|marble
the swimming pool|clear blue water;a big water slide;a shallow pool for little ones;floats and rings;a diving board;a lifeguard's tall chair|by the lockers;under a bench;next to the slide;in the changing room|swim in the pool;splash in the water;jump in at the shallow end;float on a big ring|coin
the train station|long shiny trains;a big clock;busy people with suitcases;a little cafe;a ticket office;a steam engine on show|under a seat;by the ticket machine;next to a big suitcase;on the platform|watch the trains;wave at the driver;buy a ticket;count the carriages|ticket
the harbour|fishing boats;tall white sails;nets and ropes;a red and white lighthouse;stacks of lobster pots;a fish market|behind a pile of nets;under a coil of rope;next to a boat;by the lighthouse|watch the boats;eat fish and chips;count the sails;look at the lighthouse|shell;crab shell
the castle|high stone walls;a tall tower;a moat;a drawbridge;a throne room with flags;a dungeon with a heavy door;a banqueting hall|behind a suit of armour;under a stone bench;in the tower;next to the moat|climb the tower;cross the drawbridge;play knights and dragons;sit on the throne|coin
the pond|green lily pads;croaking frogs;quick dragonflies;a family of ducks;a tiny island;a weeping willow|in the reeds;under a lily pad;behind a rock;on the muddy bank|watch the frogs;look for tadpoles;feed the ducks;dip a net in the water|pebble;feather;stick
the hill|long green grass;an old windmill;a flock of sheep;a view of the whole town;a stone wall;gorse bushes with yellow flowers|behind a rock;under a bush;in the long grass;by the windmill|roll down the hill;fly a kite;look at the town below;race to the top|stone;flower
the woods|tall old trees;curly ferns;a winding path;a babbling brook;a badger sett;a ring of toadstools|under a fern;behind a tree;in a hollow log;by the brook|follow the path;build a den;look for animal tracks;balance on a fallen log|stick;acorn;pine cone;leaf;mushroom
""", 5))


PLACES += tuple(_place(*row) for row in table("""
the campsite|colourful tents;a crackling campfire;a shady tree;a little stream;a washing line of socks;a camper van|inside the tent;behind a log;next to the campfire;under a camping chair|toast marshmallows;look at the stars;tell stories by the fire;put up a tent|stick;pine cone
the fair|a big wheel;spinning teacups;stalls of candyfloss;a carousel with painted horses;a coconut shy;a helter-skelter|behind the carousel;under a stall;next to the big wheel;by the ticket booth|ride the carousel;eat candyfloss;hook a plastic duck;go on the big wheel|ticket
the aquarium|big tanks of fish;a grey shark;glowing jellyfish;a giant octopus;a tunnel under the water;a turtle tank;a rock pool you could touch|under a bench;by the shark tank;next to the jellyfish;in the tunnel|watch the sharks;touch a starfish;look for the octopus;walk through the tunnel|sticker
the island|palm trees;white sand;a little wooden hut;old turtles;a wrecked rowing boat;coconut palms|under a palm tree;behind a rock;in a little cave;next to the hut|swim in the sea;look for treasure;build a raft;climb a palm tree|shell;coconut
the orchard|rows of apple trees;pear trees;wooden ladders;baskets of fruit;humming bees;a cider press;a beehive in the corner|under an apple tree;in a basket;behind a ladder;by the fence|pick apples;climb a ladder;make apple juice;sit in the shade|apple;pear;plum
the kitchen|a big wooden table;pots and pans;a warm oven;a bowl of fruit;a dresser full of plates;a noisy kettle|under the table;behind the bread bin;in a drawer;next to the fridge|bake a cake;wash the dishes;make sandwiches;stir the soup|spoon
the attic|old boxes;dusty trunks;a rocking chair;a round window;a dusty old telescope;a box of costumes|inside an old trunk;under a dusty blanket;behind a box;by the round window|look through old boxes;try on old hats;read old letters;find old photos|button
the village square|a splashing fountain;a clock tower;little shops;cooing pigeons;green benches;a market cross;a bakery with a striped awning|by the fountain;under a bench;next to the clock tower;behind a flower tub|feed the pigeons;throw a coin into the fountain;listen to the band;watch the clock strike twelve|coin
the circus|a stripy big top;juggling clowns;acrobats on a high rope;a band playing loud music;a ringmaster in a top hat;a unicycle|under the benches;behind the curtain;next to the popcorn stand;by the ring|watch the clowns;clap for the acrobats;eat popcorn;try juggling with three balls|ticket
the fire station|shiny red fire engines;long rolled hoses;a tall brass pole;helmets hanging on hooks;a fire dog asleep in a basket;a map of the town|behind a fire engine;under a hose;next to the pole;by the big doors|sit in a fire engine;try on a helmet;ring the big bell;spray water from a hose|sticker
the post office|stacks of parcels;a tall red postbox;shelves of birthday cards;a counter with a little bell;a scale for parcels;a tray of envelopes|under the counter;behind a parcel;next to the postbox;by the door|post a letter;buy some stamps;choose a card;weigh a parcel|stamp
the treehouse|a rope ladder;a tiny window;a wooden roof;a secret trapdoor;a pirate flag;a basket on a pulley|under the rope ladder;behind a cushion;in a corner of the treehouse;under the trapdoor|read comics;play pirates;look out through a telescope;hold a secret meeting|conker
the lighthouse|a winding staircase;a giant lamp;a view of the sea;seagulls on the railings;a foghorn;a cosy kitchen at the bottom|on the stairs;behind the lamp;by the door;next to the railings|climb the stairs;look out to sea;watch the ships;wave at the fishing boats|shell
the ice rink|smooth white ice;skaters spinning in circles;bright lights;a hot chocolate stand;a snowy mountain mural;a frozen fountain|by the benches;next to the skate rack;under the hot chocolate stand;by the gate|skate in circles;glide across the ice holding hands;drink hot chocolate;watch the skaters twirl|coin
the waterfall|rushing white water;slippery mossy rocks;curly ferns;a deep green pool;a misty cloud of spray;a wooden footbridge|behind the waterfall;under a fern;between two rocks;by the stepping stones|listen to the water;paddle in the pool;hop across the stepping stones;watch the spray|pebble
the theatre|red velvet seats;a big wooden stage;golden curtains;actors in bright costumes;a box of props;a trapdoor in the stage|under a seat;behind the curtain;by the stage;next to the door|watch the play;cheer for the actors;meet the actors;sit in the front row|ticket
the cafe|small round tables;cakes under glass domes;a hissing coffee machine;a jar of lollipops;a chalkboard menu;a bell over the door|under a table;behind the counter;next to the cake stand;by the window|drink a milkshake;eat a slice of cake;watch people go by;share a plate of biscuits|sugar cube
the sweet shop|tall jars of sweets;strings of liquorice;a tray of fudge;gobstoppers as big as marbles;a till that went ding|under the counter;behind a jar;next to the lollipop stand;by the scales|choose some sweets;taste the sherbet;count out pennies;fill a paper bag with toffees|sweet
the pet shop|rabbits in wooden hutches;a tank of tropical fish;budgies in a cage;hamster wheels;sacks of seed|behind a hutch;under a sack of seed;next to the fish tank;by the parrot cage|stroke the rabbits;watch the fish;feed the budgies;choose a collar for a puppy|feather
the allotment|rows of runner beans;a compost heap;little wooden sheds;rhubarb with giant leaves;a water butt|behind the compost heap;under a rhubarb leaf;in the potting shed;by the water butt|dig up potatoes;pull up weeds;pick runner beans;fill the watering cans|potato;pea pod;snail
the canal|a narrow towpath;painted narrowboats;heavy wooden lock gates;moorhens in the reeds|under the little bridge;behind a narrowboat;in the reeds;by the lock gates|walk along the towpath;watch a boat go through the lock;wave at the boat people;count the moorhens|stick;feather
the windmill|four great sails;sacks of flour;a huge millstone;a narrow ladder;a miller covered in flour|behind a sack of flour;under the ladder;next to the millstone;by the door|watch the sails turn;climb the ladder;help fill a sack;buy a bag of flour|grain
the skate park|smooth concrete ramps;a big half-pipe;graffiti in bright colours;teenagers doing tricks|behind a ramp;under a bench;next to the half-pipe;by the fence|ride down the ramps;practise a new trick;watch the older children;race on scooters|bottle cap
the jungle|huge green leaves;hanging vines;colourful parrots;a muddy brown river;a huge waterfall;a sloth hanging upside down|behind a giant leaf;under a vine;in a hollow tree;by the river bank|swing on the vines;listen to the parrots;look for monkeys;follow a jungle path|feather
""", 5))


PLACES_BY_NAME = {p.name: p for p in PLACES}


STREETS = tuple("""Maple Street;Apple Lane;Oak Road;Cherry Close;Mill Lane;Hill Street;Willow Way;Acorn Avenue;
Rose Lane;Station Road;Pine Street;Orchard Row;Bluebell Lane;Harbour Road;Chestnut Walk""".replace("\n", "").split(";"))


HUMAN_HOMES = ("in a little house near the woods", "in a tall blue house on {street}", "in a flat above a bakery",
               "on a farm at the edge of the village", "in a cottage by the sea", "in a busy town by a river",
               "in a small village in the hills", "in a yellow house with a red door", "at the end of {street}",
               "in a house with a big apple tree in the garden", "in a narrow house on {street}",
               "on a houseboat on a quiet canal", "in a white cottage with a thatched roof")


ANIMAL_HOMES = {home: tuple(phrases.split(";")) for home, phrases in table("""
house|with a kind family on {street};in a warm basket by the fire;in a house with a big garden
burrow|in a warm burrow under a hill;in a snug burrow beneath a hedge;in a cosy hole under the roots of a tree
den|in a cosy den under an old oak tree;in a den at the edge of the forest;in a rocky den on a hillside
nest|in a round nest high in a tree;in a nest at the top of a tall pine;in a nest under the roof of a barn
barn|in a big red barn on a farm;on a sunny farm by a stream;in a field behind the farmhouse
pond|by a quiet pond full of lily pads;in the reeds by a little pond;near a pond at the bottom of a garden
river|by a fast clear river;on the bank of a wide river;near a waterfall on a rushing river
tree|in a hollow tree in the woods;high up in an old beech tree;in a tree by the park gate
garden|in a quiet corner of a garden;under the shed in a big garden;among the flowers in a walled garden
forest|deep in the forest;in a clearing in the middle of the forest;in a forest of tall birch trees
jungle|deep in a green jungle;in a jungle full of tall trees and vines;by a river in the jungle
savanna|on the wide grassy plains;near a watering hole on the plains;under a flat-topped tree on the plains
""", 2)}


CHARACTER_ANIMALS = tuple(a for a in ANIMALS if a.home in ANIMAL_HOMES)


SEASONS = {"spring": ("March", "April", "May"), "summer": ("June", "July", "August"),
           "autumn": ("September", "October", "November"), "winter": ("December", "January", "February")}


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


OPENINGS = ("Once upon a time", "One day", "Long ago", "Not so long ago", "Early one morning", "One {weekday} morning",
            "One {season} afternoon", "One morning in {month}", "On {a_season} day", "Last {season}", "One evening",
            "One {weekday} afternoon", "Once", "Far away, in a land of green hills", "In a town not far from here",
            "Many years ago", "On the first day of {season}", "Just after breakfast one {weekday}", "One {season} evening",
            "On a quiet {weekday}", "One {weekday} in {month}")


FAMILY = (("Mum", "mum", "she"), ("Dad", "dad", "he"), ("Grandma", "grandma", "she"), ("Grandpa", "grandpa", "he"),
          ("Granny", "granny", "she"), ("Grandad", "grandad", "he"), ("Aunt {girl}", "aunt", "she"),
          ("Uncle {boy}", "uncle", "he"), ("{girl}", "big sister", "she"), ("{boy}", "big brother", "he"))


VEHICLES = ("bus", "train", "car", "boat", "ferry", "tram", "taxi", "bike", "van", "steam train", "canal boat",
            "cable car", "double-decker bus", "rowing boat", "horse and cart", "tractor", "motorbike", "camper van")


LATER = ("After a while", "Soon", "Later", "A little later", "Before long", "After lunch", "In the afternoon", "Then",
         "After that", "Next")


SPEECH = {".": ("said", "said", "said", "replied", "answered", "whispered", "called", "murmured", "explained"),
          "!": ("shouted", "cried", "called", "said", "exclaimed", "yelled", "squealed"),
          "?": ("asked", "asked", "asked", "wondered", "called")}


MOOD_ADVERBS = {"happy": ("happily", "cheerfully", "brightly", "with a smile", "with a big grin"),
                "sad": ("sadly", "quietly", "softly", "with a sniff", "in a small voice"),
                "kind": ("kindly", "gently", "warmly", "softly", "with a smile"),
                "excited": ("excitedly", "eagerly", "loudly", "with a laugh", "all in a rush"),
                "scared": ("nervously", "in a shaky voice", "very quietly", "with a gulp")}


HAIR = ("curly", "straight", "long", "short", "wavy", "messy", "neat", "spiky", "fluffy", "bouncy")
HAIR_COLOURS = ("brown", "black", "red", "blond", "golden", "ginger", "dark", "fair", "auburn", "chestnut", "sandy")
PATTERNS = ("striped", "spotty", "checked", "woolly", "sparkly", "flowery", "patched", "shiny", "knitted", "tartan")
GARMENTS = ("raincoat", "jumper", "cardigan", "scarf", "bobble hat", "dress", "skirt", "waistcoat", "hoodie", "jacket",
            "anorak", "poncho", "apron", "beret", "bow tie", "pinafore", "tracksuit", "dressing gown", "cloak", "vest")
PAIRS = ("wellies", "dungarees", "trainers", "sandals", "boots", "pyjamas", "overalls", "mittens", "socks", "shorts",
         "slippers", "tights", "leggings", "gloves")
BODY = {"fur": ("soft {c} fur", "a bushy tail", "long whiskers", "a little pink nose", "big round eyes", "fluffy ears",
                "a shiny black nose", "tiny paws", "a stubby tail", "silky {c} fur"),
        "feathers": ("shiny {c} feathers", "a sharp little beak", "big round eyes", "strong wings", "tiny feet",
                     "a fluffy {c} chest"),
        "skin": ("smooth {c} skin", "big round eyes", "bumpy {c} skin", "tiny toes", "a wide smiley mouth"),
        "wings": ("delicate wings", "six tiny legs", "big shiny eyes", "two long feelers", "a {c} body")}
BODY_COLOURS = {"fur": ("grey", "brown", "white", "black", "golden", "ginger", "silver", "cream", "tawny", "speckled"),
                "feathers": ("brown", "white", "grey", "blue", "red", "speckled", "golden", "black"),
                "skin": ("green", "brown", "grey", "olive", "spotted"), "wings": ("black", "yellow", "red", "striped")}
COVERINGS = dict.fromkeys(("owl", "duck", "hen", "goose", "swan", "penguin", "robin", "sparrow", "crow", "parrot", "chicken",
                           "turkey", "peacock", "flamingo", "pelican", "eagle", "woodpecker", "seagull", "pigeon"), "feathers")
COVERINGS |= dict.fromkeys(("frog", "tortoise", "turtle", "lizard", "crocodile", "snail"), "skin")
COVERINGS |= dict.fromkeys(("bee", "butterfly", "ladybird", "dragonfly"), "wings")


ROUTINES = ("brushed {x.his} teeth and ate a bowl of porridge", "fed the goldfish before breakfast",
            "watered the tomato plants on the windowsill", "practised the piano after school", "read a comic in bed",
            "did ten star jumps in the garden", "helped to make breakfast", "sang in the bath", "wrote in {x.his} diary",
            "walked to school with {x.his} neighbour", "counted the birds on the fence", "drew a picture before bedtime",
            "played the recorder after tea", "ate toast with honey for breakfast", "put on {x.his} favourite socks",
            "said good morning to the cat next door", "looked for snails in the garden", "built something new out of blocks",
            "listened to stories on the radio", "danced to music in the kitchen", "polished {x.his} shoes until they shone")
TITLES = ("Mr", "Mrs", "Miss", "Ms", "Dr")
SURNAMES = tuple("""Green Brown Patel Jones Khan Lee Wood Hill Parker Cooper Turner Walker Wright Hughes Evans Clarke Price
Bell Shaw Ward Murphy Okafor Nguyen Rossi Novak Silva Larsen Tanaka Garcia Kowalski Mensah Singh Hassan Moreno Dubois
Fraser Pemberton Hopkins Whitby Appleby Fairweather Thimble Crumb Pennywhistle Bramley Marsh Rowan Button Puddleby""".split())
JOBS = ("baker", "farmer", "teacher", "doctor", "nurse", "firefighter", "bus driver", "gardener", "librarian",
        "shopkeeper", "painter", "builder", "vet", "dentist", "pilot", "chef", "tailor", "zookeeper", "plumber", "carpenter",
        "potter", "beekeeper", "lighthouse keeper", "window cleaner", "florist", "butcher", "grocer", "mechanic", "sailor",
        "inventor", "musician", "juggler", "clockmaker", "ice cream seller", "newsagent", "park keeper", "train driver",
        "photographer", "scientist", "postal worker")


SOUNDS = ("the hum of bees", "the splash of water", "children laughing", "the crunch of leaves", "the tick of a clock",
          "birds singing", "a dog barking far away", "the rustle of the trees", "the clink of cups", "the whistle of a train",
          "the buzz of a lawnmower", "music from an open window", "the creak of a gate", "the patter of feet",
          "the chatter of people", "the tinkle of a bell", "the rumble of a tractor", "the squeak of a swing",
          "the call of a cuckoo", "the gurgle of a stream", "the honk of a car horn", "the flutter of wings")
SMELLS = ("fresh bread", "pine needles", "cut grass", "salty sea air", "warm toast", "wet earth", "roses", "hot chocolate",
          "strawberry jam", "woodsmoke", "lavender", "popcorn", "cinnamon", "oranges", "soap bubbles", "new books",
          "warm pancakes", "honeysuckle", "mint", "baking biscuits", "sun cream", "chips and vinegar", "ripe apples")
LANDMARKS = ("a windmill", "a castle on a hill", "a field of sunflowers", "a hot air balloon", "a waterfall", "a red tractor",
             "a lighthouse", "a sparkling lake", "a tall church spire", "a row of wind turbines", "a little stone bridge",
             "an old mill", "a busy harbour", "a huge yellow crane", "a forest of pine trees", "a scarecrow in a cornfield",
             "a factory with tall chimneys", "a football stadium", "a long dark tunnel", "rows of little houses",
             "a hill shaped like a sleeping giant", "a fairground with a big wheel", "an old steam engine")
MANNERS = ("happily", "carefully", "quickly", "slowly", "quietly", "noisily", "proudly", "gently", "bravely", "eagerly",
           "merrily", "busily", "patiently", "cheerfully", "joyfully", "with a big grin", "for ages", "again and again",
           "until it was time for tea", "as fast as {a.he} could")
MOVES = ("strolled", "marched", "wandered", "dashed", "raced", "tiptoed", "zoomed", "trotted", "hopped", "skipped",
         "scurried", "bounced", "ambled", "jogged", "hurried")


SEASON_SIGHTS = {"spring": ("blossom on the cherry trees", "new lambs in the fields", "daffodils nodding by the gate",
                            "birds building nests", "tiny green buds on every branch", "frogspawn in the pond"),
                 "summer": ("long warm evenings", "bees buzzing in the lavender", "strawberries ripening in the garden",
                            "ice cream vans playing tunes", "dragonflies over the water", "paddling pools in the gardens"),
                 "autumn": ("crunchy orange leaves on the path", "shiny conkers under the trees", "squirrels burying nuts",
                            "geese flying south in long lines", "pumpkins on the doorsteps", "blackberries in the hedges"),
                 "winter": ("frost sparkling on the windows", "bare trees against the grey sky", "robins on the fence",
                            "icicles hanging from the roof", "warm fires in every house", "fairy lights in the windows")}
HOBBIES = ("collecting stamps", "knitting", "bird watching", "origami", "stargazing", "pottery", "juggling", "magic tricks",
           "fishing", "gardening", "skateboarding", "ballet", "karate", "writing poems", "model trains", "bug hunting",
           "drawing comics", "tap dancing", "jigsaw puzzles", "horse riding", "collecting fossils", "baking bread",
           "building robots", "playing the trumpet", "making paper aeroplanes", "learning card tricks", "painting pebbles",
           "pressing flowers", "singing in a choir", "climbing trees", "hunting for shells", "reading adventure books",
           "embroidery", "photography", "archery", "fencing", "rollerskating", "whittling sticks", "cross-stitch",
           "beekeeping", "crossword puzzles", "playing the harp", "conjuring", "collecting postcards", "sketching birds")
TASTES = ("crunchy", "juicy", "sticky", "sweet", "sour", "warm", "crispy", "fluffy", "creamy", "tangy", "tasty", "delicious",
          "yummy", "soft", "chewy", "golden", "fresh", "ripe", "spicy", "buttery")


KNOWLEDGE = tuple(k.strip() for k in """owls can turn their heads almost all the way round;bees make honey from the nectar of flowers;
frogs start their lives as tadpoles;a snail carries its house on its back;penguins cannot fly but they are very fast swimmers;
a group of crows is called a murder;caterpillars turn into butterflies inside a chrysalis;spiders are not insects because they have eight legs;
a starfish has no brain;cows have four parts to their stomachs;an octopus has three hearts;giraffes sleep for only a few minutes at a time;
hedgehogs sleep all through the winter;sea otters hold hands when they sleep;koalas sleep for most of the day;
a kangaroo carries its baby in a pouch;bats find their way in the dark by listening to echoes;woodpeckers peck to find insects under the bark;
the moon goes round the earth once a month;plants need water and light to grow;trees breathe out the air we breathe in;
ice is just water that has frozen;some stars are bigger than our whole world;your heart beats about a hundred times a minute;
the tallest trees are taller than a church tower;a blue whale is the biggest animal that has ever lived;
ants can carry things much heavier than themselves;a tortoise can live for more than a hundred years;
chameleons can change the colour of their skin;honey never goes bad;elephants use their trunks like a hand;
a baby goat is called a kid;the heart of a shrimp is in its head;dolphins sleep with one eye open;
volcanoes are mountains with melted rock inside;the deepest part of the sea is deeper than the highest mountain is tall;
a hummingbird can fly backwards;sharks have been around since before the dinosaurs;a sloth moves so slowly that moss grows on its fur;
squirrels forget where they bury many of their nuts, and the nuts grow into trees;a camel stores fat in its hump;
crocodiles cannot stick out their tongues;a flamingo is pink because of the shrimps it eats;polar bears have black skin under their white fur;
earthworms help plants by making the soil soft;the smallest bird in the world is no bigger than a bee;
butterflies taste with their feet;a group of owls is called a parliament;cats spend most of their lives asleep;
mushrooms are not plants but a kind of fungus;a jellyfish is mostly water;lobsters were once so common that people fed them to pigs;
a newborn kangaroo is about the size of a jellybean;some turtles can breathe through their bottoms;
the first bicycles had no pedals;people have walked on the moon;a day on the planet Venus is longer than its year;
magnets can pull iron and steel but not wood or plastic;sound travels faster through water than through air;
a honeybee visits hundreds of flowers in one trip""".replace("\n", " ").split(";"))


RIDDLES = (("What has hands but cannot clap", "A clock"), ("What has a neck but no head", "A bottle"),
           ("What gets wetter the more it dries", "A towel"), ("What has keys but cannot open a door", "A piano"),
           ("What has one eye but cannot see", "A needle"), ("What goes up but never comes down", "Your age"),
           ("What has legs but cannot walk", "A table"), ("What is full of holes but still holds water", "A sponge"),
           ("What can you catch but not throw", "A cold"), ("What has a face and two hands but no arms or legs", "A clock"),
           ("What do you call a sleeping dinosaur", "A dino-snore"), ("Why did the cow cross the road", "To get to the udder side"),
           ("What kind of key opens a banana", "A monkey"), ("What do you call a bear with no teeth", "A gummy bear"),
           ("What is orange and sounds like a parrot", "A carrot"), ("What has teeth but cannot bite", "A comb"),
           ("What has a thumb and four fingers but is not alive", "A glove"), ("What has a bottom at the top", "Your legs"),
           ("What kind of room has no doors or windows", "A mushroom"), ("What can travel around the world while staying in a corner", "A stamp"),
           ("Why did the teddy bear say no to pudding", "Because it was already stuffed"),
           ("What do you call a dog magician", "A labracadabrador"), ("What do elves learn at school", "The elf-abet"),
           ("Where do sheep go for a haircut", "To the baa-baa shop"))


PARTY = ("balloons tied to every chair", "a cake with candles", "paper hats", "a game of pass the parcel", "musical statues",
         "jelly and ice cream", "a paper donkey full of sweets", "party bags with stickers", "streamers on the ceiling",
         "a treasure hunt in the garden", "sausages on sticks", "a magician who pulled a coin from behind an ear")


_FORMS = {"she": ("she", "her", "her", "herself"), "he": ("he", "him", "his", "himself"),
          "they": ("they", "them", "their", "themselves")}


class Pronouns:
    """Pronoun attributes for sentence templates: he/him/his/himself, capitalised He/His, and was."""
    pronoun = "they"
    he = property(lambda self: _FORMS[self.pronoun][0])
    him = property(lambda self: _FORMS[self.pronoun][1])
    his = property(lambda self: _FORMS[self.pronoun][2])
    himself = property(lambda self: _FORMS[self.pronoun][3])
    He = property(lambda self: self.he.capitalize())
    His = property(lambda self: self.his.capitalize())
    was = property(lambda self: "were" if self.pronoun == "they" else "was")


@dataclass(eq=False)
class Character(Pronouns):
    name: str
    kind: str                         # "girl", "boy", "fox", "grandma", ...
    pronoun: str                      # "she" or "he"
    traits: list = field(default_factory=list)
    home: str = ""
    feeling: str = ""                 # how the story says the character felt at the end

    def fact(self) -> dict:
        return {"name": self.name, "kind": self.kind, "traits": list(self.traits), "feeling": self.feeling}


@dataclass(eq=False)
class Group(Pronouns):
    members: tuple

    @property
    def name(self) -> str:
        return " and ".join(m.name for m in self.members)


@dataclass(eq=False)
class Thing:
    noun: str
    colour: str
    size: str
    owner: str                        # who had it at the start
    holder: str                       # who has it at the end

    full = property(lambda self: f"{self.size} {self.colour} {self.noun}")
    a_full = property(lambda self: article(self.full))
    short = property(lambda self: f"{self.colour} {self.noun}")

    def fact(self) -> dict:
        return {"thing": self.noun, "colour": self.colour, "size": self.size, "owner": self.owner, "holder": self.holder}


class Tale:
    """One story being written: its paragraphs and the facts it states."""

    def __init__(self, rng: random.Random, shape: str):
        self.rng, self.shape = rng, shape
        self.paragraphs: list[list[str]] = [[]]
        self.ctx: dict = {}
        self.characters: list[Character] = []
        self.things: list[Thing] = []
        self.places: list[str] = []
        self.facts = {"counts": [], "tallies": [], "weather": "", "relations": [],
                      "event": {"cause": "", "outcome": ""}}

    def pick(self, options):
        return options[int(self.rng.random() * len(options))]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def fill(self, template: str, extra: dict) -> str:
        return template.format_map({**self.ctx, **extra} if extra else self.ctx)

    def add(self, options, **extra) -> None:
        text = self.fill(options if isinstance(options, str) else self.pick(options), extra)
        self.paragraphs[-1].append(text[0].upper() + text[1:])

    def paragraph(self) -> None:
        if self.paragraphs[-1]:
            self.paragraphs.append([])

    def text(self) -> str:
        return "\n\n".join(" ".join(p) for p in self.paragraphs if p)


def say(t: Tale, who, lines, mark: str = ".", mood: str | None = None, **extra) -> None:
    """A line of dialogue. `lines` holds phrasings without their final mark; `mark` is '.', '!' or '?'."""
    line = t.fill(lines if isinstance(lines, str) else t.pick(lines), extra)
    line = line[0].upper() + line[1:]
    verb = t.pick(SPEECH[mark])
    inside = line + ("," if mark == "." else mark)
    tail = " " + t.pick(MOOD_ADVERBS[mood]) if mood and t.chance(0.4) else ""
    alone = (sum(c.pronoun == who.pronoun for c in t.characters) == 1
             and any(who.name in sentence for p in t.paragraphs for sentence in p))
    form = t.rng.random()
    if form < 0.35:
        sentence = f'"{inside}" {verb} {who.name}{tail}.'
    elif form < 0.55 or (form < 0.7 and not alone):
        sentence = f'"{inside}" {who.name} {verb}{tail}.'
    elif form < 0.7:
        sentence = f'"{inside}" {who.he} {verb}{tail}.'
    else:
        sentence = f'{who.name} {verb}{tail}, "{line}{mark}"'
    t.paragraphs[-1].append(sentence)


def new_character(t: Tale, animal: float = 0.3, pronoun: str | None = None, traits=(), n_traits: int | None = None):
    """A new character for the story `t`; `animal` is the chance that it is an animal."""
    rng = t.rng
    pronoun = pronoun or t.pick(("she", "he"))
    if rng.random() < animal:
        beast = t.pick(CHARACTER_ANIMALS)
        kind, names, home = beast.name, PET_NAMES, t.pick(ANIMAL_HOMES[beast.home])
    else:
        kind, names = ("girl", GIRL_NAMES) if pronoun == "she" else ("boy", BOY_NAMES)
        home = t.pick(HUMAN_HOMES)
    chosen = list(traits)
    n_traits = n_traits or t.pick((1, 2, 2))
    while len(chosen) < n_traits:
        trait = t.pick(tuple(TRAITS))
        if trait not in chosen and all(TRAITS[c][0] != trait and TRAITS[trait][0] != c for c in chosen):
            chosen.append(trait)
    c = Character(fresh_name(t, names), kind, pronoun, chosen, home.format(street=t.pick(STREETS)))
    t.characters.append(c)
    return c


def fresh_name(t: Tale, names) -> str:
    taken = {c.name for c in t.characters} | {c.name.split()[-1] for c in t.characters}
    while (name := t.pick(names)) in taken:
        pass
    return name


def new_relative(t: Tale) -> Character:
    """A family member: Mum, Grandpa, Aunt Rosa, a big brother called Ben..."""
    name, kind, pronoun = t.pick(FAMILY)
    if "{girl}" in name or "{boy}" in name:
        name = name.format(girl=fresh_name(t, GIRL_NAMES), boy=fresh_name(t, BOY_NAMES))
    c = Character(name, kind, pronoun)
    t.characters.append(c)
    return c


def new_thing(t: Tale, owner: Character, nouns=TOYS, colour: str | None = None) -> Thing:
    used = {th.noun for th in t.things}
    while (noun := t.pick(nouns)) in used:
        pass
    thing = Thing(noun, colour or t.pick(COLOURS), t.pick(SIZES), owner.name, owner.name)
    t.things.append(thing)
    return thing


def new_place(t: Tale, with_finds: bool = False) -> Place:
    while (place := t.pick(PLACES)).name in t.places or (with_finds and not place.finds):
        pass
    t.places.append(place.name)
    return place


def relate(t: Tale, subject: str, relation: str, obj: str) -> None:
    t.facts["relations"].append([subject, relation, obj])


TRAIT_LINES = ("{x.He} was also very {trait}.", "{x.name} was {trait}, too.", "Everyone said that {x.name} was {trait}.",
               "{x.He} was {trait} as well.", "And {x.he} was {trait}.", "{x.name} was {trait} too.")


HABIT_LINES = ("{x.name} {habit}.", "{x.He} {habit}.", "Everyone knew that {x.name} {habit}.",
               "All {x.his} friends knew that {x.he} {habit}.")


INTRODUCTIONS = ("{opening}, there was {desc} named {x.name}.", "{opening}, there lived {desc} called {x.name}.",
                 "{opening}, {desc} called {x.name} lived {home}.", "There once was {desc} named {x.name} who lived {home}.",
                 "{x.name} was {desc} who lived {home}.", "This is a story about {desc} named {x.name}.",
                 "{opening}, {desc} named {x.name} woke up early.", "{x.name} was {desc}.",
                 "{opening}, {x.name} woke up and stretched. {x.He} was {desc}.", "Meet {x.name}, {desc} who lived {home}.",
                 "Have you ever met {desc} called {x.name}?", "Not far from here, {desc} named {x.name} lived {home}.",
                 "Everybody knew {x.name}, {desc} who lived {home}.", "{opening}, {x.name} looked out of the window. {x.He} was {desc}.",
                 "{opening}, {desc} named {x.name} was getting dressed.")


def describe(t: Tale, x: Character) -> str:
    """'a curious little fox': an article, the first trait and the kind."""
    return article(f"{x.traits[0]} {t.pick(('', '', 'little ', 'young '))}{x.kind}")


def present(t: Tale, x: Character, templates, **extra) -> None:
    t.add(templates, x=x, desc=describe(t, x), **extra)
    if t.chance(0.6):
        appearance(t, x)
    for trait in x.traits[1:]:
        t.add(TRAIT_LINES, x=x, trait=trait)
    if t.chance(0.6):
        t.add(HABIT_LINES, x=x, habit=t.fill(t.pick(TRAITS[t.pick(x.traits)][1]), {"x": x}))


def introduce(t: Tale, x: Character) -> None:
    season = "winter" if t.facts["weather"] == "snowy" else t.pick(tuple(SEASONS))
    template = t.pick(OPENINGS)
    opening = template.format(weekday=t.pick(WEEKDAYS), season=season, a_season=article(season), month=t.pick(SEASONS[season]))
    present(t, x, INTRODUCTIONS, opening=opening, home=x.home)
    if t.chance(0.4):
        t.add(("Every day, {x.name} {r}.", "Each day, {x.he} {r}.", "Most days, {x.name} {r}."),
              x=x, r=t.fill(t.pick(ROUTINES), {"x": x}))


    if t.chance(0.2):
        t.add(("{x.name} wanted to be {job} when {x.he} grew up.", "One day, {x.name} hoped to be {job}."),
              x=x, job=article(t.pick(JOBS)))
    if t.chance(0.4):
        t.add(("{x.name}'s favourite hobby was {h}.", "{x.He} loved {h}.", "In {x.his} spare time, {x.name} enjoyed {h}."),
              x=x, h=t.pick(HOBBIES))
    if "season" in template or t.chance(0.2):
        x, y = t.rng.sample(SEASON_SIGHTS[season], 2)
        t.add(("It was {season}, with {x} and {y}.", "{season} had come, with {x}.", "It was {season}, the time of {x}."),
              season=season, x=x, y=y)


def appearance(t: Tale, x: Character) -> None:
    """How a character looks: hair and clothes for children, fur, feathers, skin or wings for animals."""
    if x.kind in ("girl", "boy"):
        t.add(("{x.He} had {hair} hair and wore {garment}.", "{x.name} wore {garment} and {pair}.", "{x.He} had {hair} hair.",
               "That day, {x.he} was wearing {garment} and {pair}."), x=x, hair=f"{t.pick(HAIR)} {t.pick(HAIR_COLOURS)}",
              garment=article(f"{t.pick(PATTERNS + COLOURS)} {t.pick(GARMENTS)}"), pair=f"{t.pick(COLOURS + PATTERNS)} {t.pick(PAIRS)}")
    else:
        cover = COVERINGS.get(x.kind, "fur")
        f1, f2 = (f.format(c=t.pick(BODY_COLOURS[cover])) for f in t.rng.sample(BODY[cover], 2))
        t.add(("{x.He} had {f1} and {f2}.", "{x.name} had {f1}.", "{x.name} had {f1} and {f2}."), x=x, f1=f1, f2=f2)


FRIEND_INTROS = ("{a.name} had a friend named {x.name}, {desc}.", "{a.His} best friend was {desc} named {x.name}.",
                 "Next door lived {desc} called {x.name}.", "{a.name}'s best friend was {x.name}, {desc} who lived {x.home}.",
                 "{x.name} was {desc}, and {x.he} was {a.name}'s friend.")


ARRIVALS = ("Just then, {desc} named {x.name} came by.", "Along came {x.name}, {desc}.",
            "At that moment, {desc} called {x.name} walked past.", "Soon {desc} named {x.name} came over.",
            "{x.name}, {desc}, saw {a.name} and came over.")


GO_LINES = ("{later}, {w.name} went to {p.name}.", "{w.name} walked to {p.name}.", "{w.name} set off for {p.name}.",
            "{w.name} ran all the way to {p.name}.", "{w.name} hurried down the road to {p.name}.",
            "That morning, {w.name} went to {p.name}.", "{w.name} {mv} along to {p.name}.",
            "One afternoon, {w.name} went to {p.name}.", "{w.name} {mv} all the way to {p.name}.",
            "{w.name} {mv} down the lane to {p.name}.")


MEET_ON_THE_WAY = ("On the way, {w.he} waved to {person}.", "On the way, {w.name} said hello to {person}.",
                   "{person} waved from across the road.", "Outside the gate, {w.he} met {person}, who smiled and waved.")


SCENE_LINES = ("At {p.name}, {w.he} saw {s1} and {s2}.", "{p.Name} had {s1}, {s2} and {s3}.",
               "It was a lovely place, with {s1} and {s2}.", "{w.name} looked around at {s1} and {s2}.",
               "There was so much to see: {s1}, {s2} and {s3}.", "{w.He} could see {s1}, {s2} and {s3}.")


def go(t: Tale, w, p: Place) -> None:
    t.add(GO_LINES, w=w, p=p, later=t.pick(LATER), mv=t.pick(MOVES))
    if t.chance(0.3):
        t.add(MEET_ON_THE_WAY, w=w, person=f"{t.pick(TITLES)} {t.pick(SURNAMES)}, the {t.pick(JOBS)}")
    for member in getattr(w, "members", (w,)):
        relate(t, member.name, "went to", p.name)


def scene(t: Tale, w, p: Place) -> None:
    s1, s2, s3 = t.rng.sample(p.sights, 3)
    t.add(SCENE_LINES, w=w, p=p, s1=s1, s2=s2, s3=s3)
    if t.chance(0.4):
        x, y = t.rng.sample(SOUNDS, 2)
        t.add(("{w.He} could hear {x} and {y}.", "Somewhere nearby, {w.he} heard {x}.", "{w.name} listened to {x}."), w=w, x=x, y=y)
    if t.chance(0.4):
        t.add(("The air smelled of {x}.", "There was a smell of {x}.", "{w.name} sniffed. Something smelled of {x}."),
              w=w, x=t.pick(SMELLS))
    if t.chance(0.4):
        aside(t)


def tell(t: Tale, teller: Character, listener: Character) -> None:
    """One character tells another something true about the world, or asks a riddle."""
    if t.chance(0.6):
        t.add(("{x.name} told {y.name} that {k}.", "Did you know that {k}? {x.name} did.", "{x.name} knew that {k}."),
              x=teller, y=listener, k=t.pick(KNOWLEDGE))
    else:
        riddle, answer = t.pick(RIDDLES)
        say(t, teller, "{r}", "?", "excited", r=riddle)
        t.add(("{y.name} thought and thought, but {y.he} did not know.", "{y.name} scratched {y.his} head."), x=teller, y=listener)
        say(t, teller, "{a}", "!", "happy", a=answer)


def lunch(t: Tale, w) -> None:
    d1, d2 = t.rng.sample(DISHES, 2)
    t.add(("For lunch, they had {d1} and {d2}.", "They stopped to eat {d1}.", "Later, they shared {d1} from a picnic basket.",
           "At lunchtime, {w.name} ate {d1} and then some {d2}.", "They had {d1} for lunch. It was {x} and {y}."),
          w=w, d1=d1, d2=d2, x=(x := t.pick(TASTES)), y=t.pick([w for w in TASTES if w != x]))


SMALL_ANIMALS = tuple(a for a in ANIMALS if a.sound and a.home in ("house", "burrow", "nest", "garden", "pond", "tree"))
ASIDES = ("{art} {an.sound} somewhere nearby.", "Somewhere, {art} {an.sound}.", "A little {an.name} {an.move} past.",
          "Far away, {art} {an.sound}.", "{art} {an.move} by without stopping.", "Nearby, {art} {an.sound} twice.")
QUIET_ASIDES = ("A bell rang in the distance.", "The leaves rustled softly.", "Somewhere, a door creaked.",
                "The smell of warm bread drifted past.", "Far away, a dog barked.", "A church clock struck the hour.")
FEEL_LINES = ("{x.name} felt {f}.", "{x.name} was very {f}.", "{x.He} felt so {f} that {x.he} {r}.",
              "{x.name} was {f}, and {x.he} {r}.", "{x.name} was so {f}!", "{x.name} felt very {f} and {r}.")


def aside(t: Tale) -> None:
    if t.chance(0.2):
        t.add(QUIET_ASIDES)
    else:
        an = t.pick(SMALL_ANIMALS)
        t.add(ASIDES, an=an, art=article(an.name))


def weather_now(t: Tale, w: str) -> None:
    t.facts["weather"] = w
    t.add(("{c}.", "Outside, {c}.", "That day, {c}."), c=t.pick(WEATHER[w].now))


def feel(t: Tale, x: Character, feeling: str, final: bool = False) -> None:
    """Name a feeling; with `final=True` it is recorded as how `x` felt at the end."""
    t.add(FEEL_LINES, x=x, f=feeling, r=t.fill(t.pick(FEELINGS[feeling]), {"x": x}))
    if final:
        x.feeling = feeling


def record_count(t: Tale, who: Character, noun: str, start: int, changes: list[int]) -> int:
    running = start
    for change in changes:
        running += change
        assert 0 <= running <= 20, "counts stay between zero and twenty"
    t.facts["counts"].append({"who": who.name, "thing": plural(noun), "start": start, "changes": list(changes), "end": running})
    return running


def record_tally(t: Tale, who: Character, verb: str, noun: str, n: int) -> None:
    t.facts["tallies"].append({"who": who.name, "verb": verb, "thing": plural(noun), "count": n})


def numbered(n: int, noun: str, more: bool = False) -> str:
    return f"{NUMBER_WORDS[n]}{' more' if more else ''} {noun if n == 1 else plural(noun)}"


def kin(c: Character, of: Character) -> str:
    """How a relative is named in the narration: 'her grandma', 'his big sister Rosa', 'her aunt'."""
    named = c.kind in ("big sister", "big brother")
    return f"{of.his} {c.kind}{' ' + c.name if named else ''}"


def and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


THANKS = ("Thank you, {to.name}", "Thank you so much", "Thanks, you are a good friend", "Oh, thank you",
          "You are the best", "Thank you for helping me")


DAY_ENDINGS = ("That night, {a.name} fell asleep with a smile on {a.his} face.", "It was the best day ever.",
               "{a.name} would never forget that day.", "When {a.he} got home, {a.he} told everyone about {a.his} day.",
               "What a day it had been!", "It had been a very good day.")


OWNS = ("{a.name} had {o.a_full}.", "{a.name}'s favourite thing was {o.a_full}.", "{a.name} had a favourite thing: {o.a_full}.",
        "For {a.his} birthday, {a.name} had been given {o.a_full}.", "{a.name} loved {a.his} {o.full} more than anything.")


LOVES = ("{a.He} took it everywhere.", "It was {a.his} favourite thing in the whole world.", "{a.He} played with it every day.",
         "{a.He} never went anywhere without it.", "{a.He} kept it on the shelf by {a.his} bed.")


LOSES = ("When it was time to go home, {a.name} could not find {a.his} {o.noun}.", "Then {a.name} looked down. {a.His} {o.noun} was gone!",
         "But when {a.he} turned around, the {o.short} was not there.", "Suddenly {a.name} saw that {a.his} {o.noun} was missing.")


def lost_and_found(t: Tale) -> None:
    a = new_character(t)
    t.ctx.update(a=a, o=new_thing(t, a), p=new_place(t))
    o, p = t.ctx["o"], t.ctx["p"]
    introduce(t, a)
    t.add(OWNS), t.add(LOVES), t.paragraph()
    t.add(("One afternoon, {a.name} took {a.his} {o.noun} to {p.name}.", "{a.name} took the {o.short} to {p.name}.",
           "One day, {a.name} and {a.his} {o.noun} went to {p.name}."))
    relate(t, a.name, "went to", p.name)
    scene(t, a, p)
    t.add(("{a.He} {act.past} for a long time.", "{a.name} {act.past} until {a.his} cheeks were pink.",
           "{a.He} had lots of fun {act.ing}.", "{a.name} {act.past} {how}."), act=t.pick(p.activities), how=t.fill(t.pick(MANNERS), {}))
    t.add(LOSES), feel(t, a, t.pick(BAD_FEELINGS)), t.paragraph()
    t.ctx["b"] = b = new_character(t)
    present(t, b, ARRIVALS)
    say(t, b, ("What is wrong, {a.name}", "Why do you look so sad", "What happened, {a.name}"), "?", "kind")
    say(t, a, ("I lost my {o.short}", "I can't find my {o.short} anywhere", "My {o.short} is gone"), t.pick(".!"), "sad")
    say(t, b, ("Don't worry, I will help you look", "Let's look for it together", "We will find it, I promise"), t.pick(".!"), "kind")
    s1, s2, s3 = t.rng.sample(p.spots, 3)
    t.add(("They looked {s1} and {s2}, but the {o.noun} was not there.", "First they looked {s1}. Then they looked {s2}. No {o.noun}.",
           "They searched {s1}. They searched {s2}. Still no {o.noun}."), s1=s1, s2=s2)
    t.add(("At last, {b.name} found the {o.noun} {s3}!", "Then {b.name} spotted something {o.colour} {s3}. It was the {o.noun}!",
           "{b.name} peeked {s3}, and there was the {o.noun}!"), s3=s3)
    say(t, b, ("Here it is", "I found it", "Look what I found"), "!", "excited")
    say(t, a, THANKS, "!", "happy", to=b)
    feel(t, a, t.pick(GOOD_FEELINGS), final=True)
    t.add(("From then on, {a.name} kept {a.his} {o.noun} safe.", "{a.name} held {a.his} {o.short} tight all the way home.",
           "{a.name} and {b.name} played with the {o.noun} until the sky turned pink."))
    relate(t, b.name, "found", o.noun), relate(t, o.noun, "was found", s3), relate(t, b.name, "helped", a.name)
    t.facts["event"] = {"cause": f"{a.name} lost {a.his} {o.short} at {p.name}", "outcome": f"{b.name} found it {s3}"}


def sharing(t: Tale) -> None:
    a, p, food = new_character(t), new_place(t), t.pick(SNACKS)
    n = t.rng.randint(3, 12)
    k = t.rng.randint(1, n - 1)
    t.ctx.update(a=a, p=p, n=numbered(n, food), k=numbered(k, food), food=plural(food))
    introduce(t, a)
    t.add(("{a.name} had {n} in {a.his} basket.", "{a.name}'s mum gave {a.him} {n} to take to {p.name}.",
           "In {a.his} bag, {a.name} had {n}.", "{a.name} counted {a.his} snack. There were {n}."))
    t.paragraph(), go(t, a, p)
    if t.chance(0.5):
        scene(t, a, p)
    t.ctx["b"] = b = new_character(t)
    present(t, b, ARRIVALS)
    t.add(("{b.name} had no {food}.", "{b.name} had forgotten {b.his} snack and had nothing to eat.",
           "{b.name} had nothing to eat, and {b.his} tummy rumbled."))
    say(t, a, ("Would you like some of my {food}", "Do you want to share my {food}", "Are you hungry, {b.name}"), "?", "kind")
    say(t, b, ("Yes, please", "Oh, yes please", "I would love some"), "!", "happy")
    t.add(("{a.name} gave {b.name} {k}.", "{a.name} gave {k} to {b.name}.", "{a.name} counted out {k} for {b.name}."))
    changes = [-k]
    if n - k > 1 and t.chance(0.5):
        eaten = t.rng.randint(1, n - k - 1)
        t.add(("Then {a.name} ate {e}.", "{a.name} ate {e} {me}.", "After that, {a.name} ate {e}."),
              e=numbered(eaten, food), me=a.himself)
        changes.append(-eaten)
    t.add(("The {food} were {x} and {y}.", "They were so {x}!", "{b.name} ate one. It was {x}."),
          x=(x := t.pick(TASTES)), y=t.pick([w for w in TASTES if w != x]))
    say(t, b, THANKS, "!", "happy", to=a)
    feel(t, t.pick((a, b)), t.pick(GOOD_FEELINGS), final=True)
    t.add(("Sharing made them both happy.", "{a.name} learned that sharing is fun.", "Food tastes better when you share it with a friend.",
           "From that day on, {a.name} and {b.name} always shared their snacks."))
    record_count(t, a, food, n, changes), record_count(t, b, food, 0, [k])
    t.facts["event"] = {"cause": f"{b.name} had nothing to eat", "outcome": f"{a.name} shared {a.his} {plural(food)}"}


def animals_on_the_way(t: Tale, a: Character, c: Character) -> str:
    """A few kinds of animals seen on a journey, counted; returns the phrase, e.g. 'three cows and two geese'."""
    kinds = t.rng.sample(ANIMALS, t.pick((1, 2, 2, 3)))
    counts = [t.rng.randint(1, 9) for _ in kinds]
    seen = and_list([numbered(n, an.name) for n, an in zip(counts, kinds)])
    t.add(("On the way, they saw {seen}.", "Out of the window, {a.name} saw {seen}.", "Along the way, {a.name} counted {seen}.",
           "From the {v}, they could see {seen}."), seen=seen)
    for n, an in zip(counts, kinds):
        record_tally(t, a, "see", an.name, n)
    say(t, a, ("Look, {c.name}! {X}", "I can see {x}", "Wow, {x}"), "!", "excited", x=seen, X=seen[0].upper() + seen[1:])
    return seen


def trip(t: Tale) -> None:
    a, p = new_character(t, animal=0.2), new_place(t)
    t.ctx.update(a=a, p=p, c=new_relative(t), v=t.pick(VEHICLES))
    c = t.ctx["c"]
    weather = t.pick(("sunny", "sunny", "cloudy", "windy", ""))
    t.facts["weather"] = weather
    introduce(t, a)
    t.add(("One day, {a.name} and {kin} went to {p.name} by {v}.", "{c.name} took {a.name} to {p.name} by {v}.",
           "{a.name} and {c.name} took the {v} to {p.name}."), kin=kin(c, a))
    relate(t, a.name, "went to", p.name), relate(t, c.name, "went to", p.name)
    if weather:
        weather_now(t, weather)
    seen = animals_on_the_way(t, a, c)
    if t.chance(0.6):
        l1, l2 = t.rng.sample(LANDMARKS, 2)
        t.add(("They passed {l1} and {l2}.", "Through the window, {a.he} spotted {l1}.", "Then they went past {l1}."), l1=l1, l2=l2)
    t.paragraph(), scene(t, a, p)
    t.add(("{a.name} and {c.name} {act.past}.", "First {a.name} and {c.name} {act.past}.", "{c.name} and {a.name} {act.past} together.",
           "{a.name} and {c.name} {act.past} {how}."), act=t.pick(p.activities), how=t.fill(t.pick(MANNERS), {}))
    if t.chance(0.6):
        t.ctx["o"] = o = new_thing(t, a)
        t.add(("Before they went home, {c.name} bought {a.name} {o.a_full}.", "At the shop, {c.name} bought {a.name} {o.a_full}."))
        relate(t, c.name, "bought", o.noun)
    if t.chance(0.4):
        lunch(t, Group((a, c)))
    if t.chance(0.4):
        tell(t, c, a)
    feel(t, a, t.pick(GOOD_FEELINGS), final=True), t.add(DAY_ENDINGS)
    t.facts["event"] = {"cause": f"{a.name} went on a trip to {p.name}", "outcome": f"{a.name} saw {seen}"}


@dataclass(frozen=True)
class Problem:
    things: tuple
    troubles: tuple
    fixes: dict
    water: bool = False


PROBLEMS = (
    Problem(("kite", "ball", "hat", "balloon", "frisbee", "paper plane", "scarf", "cap", "sunhat", "ribbon"),
            ("the wind blew {a.his} {o.noun} into a tall tree", "{a.his} {o.noun} got stuck high up in a tree",
             "{a.his} {o.noun} landed on the roof of a shed"),
            {"tall": "{b.name} was very tall, so {b.he} reached up and took the {o.noun} down",
             "clever": "{b.name} was clever. {b.He} fetched a long stick and poked the {o.noun} until it fell",
             "brave": "{b.name} was brave, so {b.he} climbed up carefully and brought the {o.noun} down",
             "strong": "{b.name} was strong, so {b.he} lifted {a.name} up high until {a.he} could grab the {o.noun}"}),
    Problem(("ball", "toy boat", "hat", "rubber duck", "frisbee", "sunhat", "cap", "bucket", "flag"),
            ("{a.his} {o.noun} fell into the water and floated away", "a gust of wind blew {a.his} {o.noun} into the water",
             "{a.his} {o.noun} slipped out of {a.his} hands and splashed into the water"),
            {"clever": "{b.name} was clever. {b.He} used a fishing net to scoop the {o.noun} out of the water",
             "tall": "{b.name} was tall enough to reach out over the water and grab the {o.noun}",
             "brave": "{b.name} was brave, so {b.he} waded into the cold water and fetched the {o.noun}",
             "patient": "{b.name} was patient. {b.He} waited until the water carried the {o.noun} back to the bank"}, True),
    Problem(("toy car", "toy truck", "wagon", "kite", "doll", "teddy bear", "robot", "toy train", "umbrella", "rag doll",
             "puppet", "music box", "lantern", "toy plane", "drum", "toy horse"),
            ("{a.name} dropped {a.his} {o.noun} and it broke", "{a.his} {o.noun} fell off a wall and broke",
             "a piece snapped off {a.his} {o.noun}"),
            {"clever": "{b.name} was clever, so {b.he} fixed the {o.noun} with some glue",
             "patient": "{b.name} was patient. {b.He} mended the {o.noun} piece by piece with sticky tape",
             "helpful": "{b.name} was helpful. {b.He} fetched a box of tools and fixed the {o.noun}",
             "careful": "{b.name} was careful, so {b.he} glued the pieces back together very slowly"}),
    Problem(("wagon", "sled", "box", "basket", "bucket", "backpack", "bag"),
            ("{a.his} {o.noun} was full of stones and too heavy to pull up the hill", "{a.his} {o.noun} was too heavy to carry home",
             "{a.his} {o.noun} was so full of apples that {a.he} could not lift it"),
            {"strong": "{b.name} was strong, so {b.he} lifted the {o.noun} and carried it all the way",
             "helpful": "{b.name} was helpful. {b.He} took one side and {a.name} took the other, and they carried the {o.noun} together",
             "clever": "{b.name} was clever. {b.He} put the {o.noun} on a little cart, and they wheeled it along easily"}),
)


WATER_PLACES = tuple(PLACES_BY_NAME[name] for name in ("the river", "the lake", "the pond", "the beach", "the harbour", "the park"))


def problem_solved(t: Tale) -> None:
    problem = t.pick(PROBLEMS)
    a = new_character(t)
    o = new_thing(t, a, nouns=problem.things)
    p = t.pick(WATER_PLACES) if problem.water else new_place(t)
    if p.name not in t.places:
        t.places.append(p.name)
    trait = t.pick(tuple(problem.fixes))
    t.ctx.update(a=a, o=o, p=p)
    introduce(t, a)
    t.add(OWNS), t.paragraph(), go(t, a, p), scene(t, a, p)
    trouble = t.fill(t.pick(problem.troubles), {})
    t.add(("But then {x}.", "Suddenly, {x}.", "Oh no! {X}.", "All at once, {x}."), x=trouble, X=trouble[0].upper() + trouble[1:])
    feel(t, a, t.pick(BAD_FEELINGS))
    say(t, a, ("Oh no, my {o.noun}", "Help! My {o.noun}", "What can I do now"), t.pick("!?"), "sad")
    t.paragraph()
    t.ctx["b"] = b = new_character(t, traits=(trait,))
    present(t, b, ARRIVALS)
    say(t, b, ("Don't worry, {a.name}, I can help", "I know what to do", "Let me help you"), t.pick(".!"), "kind")
    fix = t.fill(problem.fixes[trait], {})
    t.add("{x}.", x=fix)
    say(t, a, THANKS, "!", "happy", to=b)
    feel(t, a, t.pick(GOOD_FEELINGS), final=True)
    t.add(("{a.name} was glad to have such a good friend.", "Good friends help each other.",
           "After that, {a.name} and {b.name} played together all afternoon.", "{a.name} gave {b.name} a big hug."))
    relate(t, b.name, "helped", a.name)
    t.facts["event"] = {"cause": trouble, "outcome": fix}


CONTAINERS = ("bucket", "basket", "bag", "jar", "tin", "box", "sunhat", "lunchbox")


TAKERS = ("a cheeky squirrel ran off with {lost}", "{lost} fell out of a hole in {a.his} {box}",
          "a gust of wind blew {lost} away", "{a.he} dropped {lost} into a deep puddle",
          "a naughty dog grabbed {lost} and ran away")


def counting(t: Tale) -> None:
    a, p = new_character(t), new_place(t, with_finds=True)
    item, box = t.pick(p.finds), t.pick(CONTAINERS)
    t.ctx.update(a=a, p=p, box=box, items=plural(item))
    introduce(t, a), t.paragraph(), go(t, a, p)
    t.add(("{a.He} took a {box} to collect {items}.", "{a.name} wanted to collect {items} in {a.his} {box}.",
           "{a.He} had an empty {box}, and {a.he} wanted to fill it with {items}."))
    first = t.rng.randint(2, 6)
    t.add(("First, {a.he} found {n}.", "Soon {a.he} found {n}.", "Right away, {a.name} found {n}."), n=numbered(first, item))
    if first <= 5 and t.chance(0.5):
        say(t, a, ", ".join(NUMBER_WORDS[1:first + 1]), "!", "excited")
    changes, total = [], first
    for _ in range(t.pick((1, 1, 2))):
        more = t.rng.randint(1, 6)
        t.add(("Then {a.he} found {n}.", "A little later, {a.he} found {n}.", "Near a big rock, {a.name} found {n}.",
               "{a.He} looked again and found {n}."), n=numbered(more, item, more=True))
        changes.append(more)
        total += more
    if t.chance(0.6):
        lost = t.rng.randint(1, total - 1)
        t.add(("But on the way home, {x}.", "Oh dear! {X}.", "Then {x}."),
              x=(x := t.fill(t.pick(TAKERS), {"lost": numbered(lost, item)})), X=x[0].upper() + x[1:])
        changes.append(-lost)
        total -= lost
    if t.chance(0.4):
        t.add(("Now {a.he} had {n}.", "In the end, {a.name} had {n} in {a.his} {box}."), n=numbered(total, item))
    feel(t, a, t.pick(SOLO_FEELINGS), final=True), t.add(DAY_ENDINGS)
    record_count(t, a, item, first, changes)
    t.facts["event"] = {"cause": f"{a.name} collected {plural(item)} at {p.name}", "outcome": f"{a.name} had {total} {plural(item)}"}


def trade(t: Tale) -> None:
    a = new_character(t)
    b = new_character(t)
    oa, ob = new_thing(t, a), new_thing(t, b)
    t.ctx.update(a=a, b=b, oa=oa, ob=ob, an_oa=article(oa.noun))
    introduce(t, a), present(t, b, FRIEND_INTROS), t.paragraph()
    t.add(("{a.name} had {oa.a_full}, and {b.name} had {ob.a_full}.", "{a.name} had {oa.a_full}. {b.name} had {ob.a_full}."))
    t.add(("{a.name} liked {b.name}'s {ob.noun} very much.", "{a.name} kept looking at {b.name}'s {ob.short}.",
           "{b.name} wished {b.he} had {an_oa} like {a.name}'s."))
    say(t, a, ("Will you swap your {ob.noun} for my {oa.noun}", "Shall we swap, {b.name}", "Do you want to trade"), "?", "excited")
    if t.chance(0.3):
        say(t, b, ("I am not sure", "Let me think about it", "Hmm, maybe"), ".")
        t.add(("{b.name} thought for a long time.", "{b.name} looked at the {oa.short} and smiled."))
    say(t, b, ("Yes, let's swap", "All right, it's a deal", "OK, let's trade"), "!", "happy")
    t.add(("So {a.name} gave {b.name} the {oa.short}, and {b.name} gave {a.name} the {ob.short}.", "So they swapped.",
           "{a.name} handed over the {oa.noun}, and {b.name} handed over the {ob.noun}."))
    oa.holder, ob.holder = b.name, a.name
    t.add(("{a.name} played with the {ob.noun} all afternoon.", "{b.name} was very pleased with the {oa.noun}."))
    if t.chance(0.3):
        t.paragraph()
        t.add(("The next day, {a.name} missed {a.his} old {oa.noun}.", "But that night, {a.name} began to miss the {oa.short}."))
        say(t, a, ("Can we swap back, {b.name}", "Would you mind if we swapped back"), "?", "sad")
        say(t, b, ("Of course", "Yes, I miss my {ob.noun} too"), t.pick(".!"), "kind")
        t.add(("So they swapped back, and everyone was happy.", "So {a.name} got the {oa.noun} back, and {b.name} got the {ob.noun} back."))
        oa.holder, ob.holder = a.name, b.name
    feel(t, a, t.pick(GOOD_FEELINGS), final=True)
    t.facts["event"] = {"cause": f"{a.name} and {b.name} wanted each other's things", "outcome": f"{a.name} has the {(oa if oa.holder == a.name else ob).noun}"}


GIFT_SHOPS = tuple(PLACES_BY_NAME[n] for n in ("the toy shop", "the market", "the village square", "the fair", "the museum"))


def buy_present(t: Tale, a: Character, o: Thing) -> None:
    """`a` counts the coins in a piggy bank, goes to a shop and buys `o`."""
    p = t.ctx["p"] = t.pick(GIFT_SHOPS)
    t.places.append(p.name)
    coins = t.rng.randint(3, 15)
    price = t.rng.randint(1, coins)
    t.add(("{a.name} had {n} in {a.his} piggy bank.", "{a.name} counted {a.his} money. {a.He} had {n}."), n=numbered(coins, "coin"))
    go(t, a, p)
    t.add(("There {a.he} found {o.a_full}. It cost {k}.", "{a.He} saw {o.a_full} that cost {k}.",
           "At a stall, {a.he} found {o.a_full}. The price was {k}."), k=numbered(price, "coin"))
    t.add(("{a.name} paid for it and took it home.", "{a.He} bought it at once."))
    record_count(t, a, "coin", coins, [-price])


def gift(t: Tale) -> None:
    a = new_character(t)
    b = new_character(t)
    t.ctx.update(a=a, b=b)
    introduce(t, a), present(t, b, FRIEND_INTROS), t.paragraph()
    t.add(("Soon it would be {b.name}'s birthday.", "It was nearly {b.name}'s birthday.", "{b.name}'s birthday was on {day}."),
          day=t.pick(WEEKDAYS))
    relate(t, b.name, "had a birthday", "")
    t.add(("{a.name} wanted to give {b.name} a special present.", "{a.name} wanted to find the perfect present for {b.name}."))
    o = t.ctx["o"] = new_thing(t, a)
    if t.chance(0.6):
        buy_present(t, a, o)
    else:
        t.add(("{a.He} decided to make a present. {a.He} made {o.a_full} all by {a.himself}.",
               "{a.name} made {o.a_full} out of card, glue and paint."))
    t.add(("{a.He} wrapped it in shiny paper.", "{a.He} wrapped it in paper with stars on it and tied a bow."))
    t.paragraph()
    if t.chance(0.6):
        t.add(("At the party there were {x}.", "{b.name}'s party had {x}."), x=and_list(t.rng.sample(PARTY, 3)))
    t.add(("At the party, {a.name} gave the present to {b.name}.", "On {b.name}'s birthday, {a.name} gave {b.him} the present."))
    t.add(("{b.name} tore off the paper.", "{b.name} opened it slowly.", "{b.name} opened it with a big grin."))
    say(t, b, ("{x}! I love it", "Wow, {y}! Thank you, {a.name}", "It's {y}! It's just what I wanted"), "!", "excited",
        x=o.short[0].upper() + o.short[1:], y=article(o.short))
    o.holder = b.name
    relate(t, a.name, "gave a present to", b.name)
    feel(t, b, t.pick(("happy", "excited", "grateful", "glad")), final=True), feel(t, a, t.pick(("happy", "proud", "glad")), final=True)
    t.facts["event"] = {"cause": f"it was {b.name}'s birthday", "outcome": f"{a.name} gave {b.name} {o.a_full}"}


INDOOR_PLACES = ("the library", "the museum", "the kitchen", "the attic", "the toy shop", "the bakery", "the aquarium",
                 "the sweet shop", "the pet shop", "the windmill",
                 "the school", "the theatre", "the cafe", "the post office", "the fire station", "the ice rink",
                 "the swimming pool", "the train station", "the treehouse", "the lighthouse", "the circus")


OUTDOOR_PLACES = tuple(p for p in PLACES if p.name not in INDOOR_PLACES)


def weather_plans(t: Tale) -> None:
    w = t.pick(BAD_WEATHER)
    t.facts["weather"] = w
    a, p = new_character(t), t.pick(OUTDOOR_PLACES)
    t.places.append(p.name)
    b = new_character(t) if t.chance(0.5) else new_relative(t)
    t.ctx.update(a=a, b=b, p=p, act=t.pick(p.activities), w=WEATHER[w])
    introduce(t, a)
    if b.traits:
        present(t, b, FRIEND_INTROS)
    t.add(("{a.name} wanted to go to {p.name} and {act.base}.", "{a.name} had a plan: {a.he} would go to {p.name} to {act.base}.",
           "Today {a.name} and {b.name} were going to {p.name}. {a.name} wanted to {act.base}."))
    relate(t, a.name, "wanted to go to", p.name)
    say(t, a, ("I can't wait to {act.base}", "We are going to {p.name} today", "Let's go to {p.name}, {b.name}"), "!", "excited")
    t.paragraph()
    change = t.pick(WEATHER[w].arrives)
    t.add(("But then {x}.", "Just as they put on their shoes, {x}.", "But when {a.he} looked out of the window, {y}."),
          x=change, y=t.pick(WEATHER[w].now))
    feel(t, a, t.pick(("disappointed", "sad", "cross", "upset")))
    say(t, a, ("Now we can't go to {p.name}", "Oh no, it's too {w.name} to go out", "This is not fair"), t.pick(".!"), "sad")
    instead = activity(t.fill(t.pick(INDOOR_ACTIVITIES + WEATHER[w].instead), {"x": a}))
    say(t, b, ("Let's {x} instead", "I have an idea! We can {x}", "Why don't we {x}"), "!?"[t.chance(0.3)], "kind", x=instead.base)
    t.add(("So they {x}.", "So {a.name} and {b.name} {x}.", "And that is what they did: they {x}."), x=instead.past)
    if t.chance(0.5):
        tell(t, b, a)
    relate(t, f"{a.name} and {b.name}", "did instead", instead.past)
    feel(t, a, t.pick(("happy", "glad", "excited", "calm")), final=True)
    t.add(("It was a fun day after all.", "{a.name} decided that {w.name} days could be fun too.",
           "They would go to {p.name} another day.", "{a.name} laughed. A {w.name} day was not so bad after all."))
    t.facts["event"] = {"cause": f"it was {w} and {a.name} could not go to {p.name}", "outcome": f"they {instead.past}"}


GAMES = ("hide and seek", "tag", "hopscotch", "football", "snap", "musical chairs", "leapfrog", "catch", "skipping",
         "marbles", "dominoes", "chess", "I spy", "tug of war", "treasure hunts", "sleeping lions", "duck duck goose")


FLOWERS = ("rose", "tulip", "daisy", "sunflower", "bluebell", "poppy", "lily", "daffodil", "buttercup", "snowdrop",
           "marigold", "pansy", "dandelion", "primrose", "foxglove", "orchid", "forget-me-not", "cornflower")


SPORTS = ("football", "swimming", "tennis", "running", "cycling", "basketball", "gymnastics", "skating", "rowing",
          "climbing", "dancing", "netball", "cricket", "judo", "badminton")


FAVOURITES = {"colour": COLOURS, "food": DISHES, "animal": tuple(f"the {a.name}" for a in ANIMALS), "game": GAMES,
              "season": tuple(SEASONS), "number": tuple(NUMBER_WORDS[1:13]), "flower": tuple(f"the {f}" for f in FLOWERS),
              "sport": SPORTS}


def conversation(t: Tale) -> None:
    a, b = new_character(t), new_character(t)
    p = new_place(t)
    t.ctx.update(a=a, b=b, p=p)
    introduce(t, a), present(t, b, FRIEND_INTROS), t.paragraph()
    t.add(("One afternoon, {a.name} and {b.name} sat together at {p.name}.", "{a.name} and {b.name} were sitting on a bench at {p.name}.",
           "At {p.name}, {a.name} and {b.name} sat down to talk."))
    relate(t, a.name, "went to", p.name), relate(t, b.name, "went to", p.name)
    for topic in t.rng.sample(tuple(FAVOURITES), t.pick((2, 3, 3))):
        asker, teller = (a, b) if t.chance(0.5) else (b, a)
        mine, yours = t.pick(FAVOURITES[topic]), t.pick(FAVOURITES[topic])
        say(t, asker, ("What is your favourite {topic}, {x.name}", "{x.name}, what {topic} do you like best",
                       "Which {topic} do you like most"), "?", x=teller, topic=topic)
        say(t, teller, ("My favourite {topic} is {v}", "I like {v} best", "{V}, of course", "I love {v}"), t.pick(".!"),
            "happy", topic=topic, v=mine, V=mine[0].upper() + mine[1:])
        if t.chance(0.7):
            say(t, teller, ("What about you", "And you", "What is yours"), "?")
            same = "Mine is {v} too! We like the same {topic}"
            say(t, asker, (same,) if yours == mine else ("Mine is {v}", "I like {v} best", "I think {v} is the best"),
                t.pick(".!"), topic=topic, v=yours)
            relate(t, asker.name, f"favourite {topic}", yours)
        relate(t, teller.name, f"favourite {topic}", mine)
    if t.chance(0.4):
        lunch(t, Group((a, b)))
    if t.chance(0.6):
        tell(t, *t.rng.sample((a, b), 2))
    t.add(("They talked and talked until it was time to go home.", "{a.name} liked learning new things about {b.name}.",
           "Then they played {g} together.", "It was fun to find out what a friend likes."), g=t.pick(GAMES))
    feel(t, a, t.pick(GOOD_FEELINGS), final=True)
    t.facts["event"] = {"cause": f"{a.name} and {b.name} talked about their favourite things", "outcome": "they learned about each other"}


def new_friend(t: Tale) -> None:
    a, p = new_character(t), t.pick(OUTDOOR_PLACES)
    t.places.append(p.name)
    b = new_character(t, animal=0.5)
    t.ctx.update(a=a, b=b, p=p)
    introduce(t, a)
    t.add(("{a.name} had just moved to a new town, and {a.he} did not know anyone.", "{a.name} had nobody to play with.",
           "All of {a.name}'s friends were away on holiday."))
    t.paragraph(), go(t, a, p), scene(t, a, p), feel(t, a, t.pick(("lonely", "bored", "sad")))
    present(t, b, ARRIVALS + ("Then {a.name} saw {desc} sitting all alone.",))
    say(t, b, ("Hello! My name is {b.name}. What is yours", "Hi there! I'm {b.name}. Who are you"), "?", "happy")
    say(t, a, ("I am {a.name}", "My name is {a.name}", "Hello, {b.name}! I'm {a.name}"), t.pick(".!"), "happy")
    act, act2 = t.rng.sample(p.activities, 2)
    say(t, b, ("Do you want to {x} with me", "Shall we {x} together", "Would you like to {x}"), "?", x=act.base)
    t.add(("So they {x}.", "{a.name} and {b.name} {x} together.", "Together they {x}."), x=act.past)
    t.add(("Then they {x}.", "After that, they {x}.", "Next, they {x} and laughed a lot."), x=act2.past)
    if t.chance(0.4):
        lunch(t, Group((a, b)))
    if t.chance(0.5):
        tell(t, b, a)
    relate(t, a.name, "met", b.name)
    feel(t, a, t.pick(GOOD_FEELINGS), final=True)
    t.add(("From that day on, {a.name} and {b.name} were the best of friends.", "It was the start of a wonderful friendship.",
           "{a.name} was not lonely any more.", "After that, {a.name} and {b.name} played together every day."))
    t.facts["event"] = {"cause": f"{a.name} had nobody to play with", "outcome": f"{a.name} made friends with {b.name}"}


BABIES = tuple(an for an in ANIMALS if an.baby and an.home in ("pond", "nest", "barn", "den", "burrow", "forest", "tree", "garden"))


def baby_animal(t: Tale) -> None:
    a, p, an = new_character(t), t.pick(OUTDOOR_PLACES), t.pick(BABIES)
    t.places.append(p.name)
    s1, s2, s3 = t.rng.sample(p.spots, 3)
    t.ctx.update(a=a, p=p, an=an, baby=f"the {an.baby}")
    introduce(t, a), t.paragraph(), go(t, a, p)
    t.add(("There, {a.he} heard a tiny cry.", "Suddenly, {a.name} heard a small sad sound.", "{a.He} stopped. Something was crying."))
    t.add(("{s1}, all alone, was {x}.", "{a.name} found {x} {s1}, all alone."), x=article(f"little {an.baby}"), s1=s1)
    say(t, a, ("Where is your mother, little {an.baby}", "Are you lost, little one", "Where is your mummy"), "?", "kind")
    t.add(("The {an.baby} was lost.", "The little {an.baby} could not find its mother.", "The {an.baby} looked up at {a.name}."))
    t.paragraph()
    t.add(("{a.name} and the {an.baby} went to look for its mother.", "{a.name} decided to help the {an.baby} find its mother."))
    t.add(("They looked {s2}, but the mother {an.name} was not there.", "First they looked {s2}. No mother {an.name}."), s2=s2)
    t.add(("At last, they found the mother {an.name} {s3}!", "Then {a.name} saw the mother {an.name} {s3}!"), s3=s3)
    if an.sound:
        t.add(("The mother {an.name} {an.sound} happily.", "The mother {an.name} {an.sound} with joy."))
    t.add(("The {an.baby} ran to its mother.", "The little {an.baby} snuggled up to its mother."))
    relate(t, a.name, "helped", f"the {an.baby}"), relate(t, f"mother {an.name}", "was found", s3)
    feel(t, a, t.pick(("happy", "proud", "glad")), final=True)
    t.add(("{a.name} waved goodbye and went home.", "{a.name} had done a very kind thing.", "Helping others made {a.name} feel warm inside."))
    t.facts["event"] = {"cause": f"a little {an.baby} was lost", "outcome": f"{a.name} helped it find its mother"}


BAKES = ("cookie", "cupcake", "muffin", "biscuit", "bun", "pancake", "scone", "jam tart", "flapjack", "gingerbread man",
         "cinnamon roll", "oatcake", "mince pie", "doughnut", "waffle")


INGREDIENTS = ("a bag of flour", "a jug of milk", "a pinch of salt", "some sugar", "a lump of butter", "a spoon of honey",
               "a handful of raisins", "some chocolate chips", "a drop of vanilla", "a sprinkle of cinnamon",
               "a bowl of berries", "some oats", "a grated lemon peel", "a cup of cream")


def share_out(t: Tale, a: Character, c: Character, item: str, n: int) -> list[int]:
    """Some of a batch of `n` is eaten, and perhaps some given to a visitor; returns the changes to `a`'s count."""
    eaten = t.rng.randint(1, 3)
    t.add(("{a.name} ate {x}.", "{c.name} let {a.name} eat {x} while they were still warm."), x=numbered(eaten, item))
    changes = [-eaten]
    if t.chance(0.6):
        b = t.ctx["b"] = new_character(t, animal=0.3)
        given = t.rng.randint(1, n - eaten - 1)
        present(t, b, ("Then their neighbour {x.name}, {desc}, knocked on the door.", "Just then, {desc} named {x.name} came to visit."))
        t.add(("{a.name} gave {b.name} {x}.", "They gave {x} to {b.name}."), x=numbered(given, item))
        changes.append(-given)
    return changes


def baking(t: Tale) -> None:
    a = new_character(t, animal=0.2)
    c = new_relative(t)
    p, item = PLACES_BY_NAME[t.pick(("the kitchen", "the bakery"))], t.pick(BAKES)
    t.places.append(p.name)
    t.ctx.update(a=a, c=c, p=p, items=plural(item))
    introduce(t, a), t.paragraph()
    t.add(("One {d}, {a.name} and {c.name} decided to bake {items}.", "{c.name} said that today they would bake {items}.",
           "{a.name} wanted to bake {items} with {c.name}."), d=t.pick(WEEKDAYS))
    eggs = t.rng.randint(1, 4)
    t.add(("They went to {p.name} and got out {x}.", "In {p.name}, they got out {x}.", "At {p.name}, they laid out {x}."),
          x=and_list([numbered(eggs, "egg")] + t.rng.sample(INGREDIENTS, t.pick((2, 3)))))
    record_tally(t, a, "use", "egg", eggs)
    t.add(("{a.name} cracked the eggs and {c.name} stirred.", "They mixed everything in a big bowl.",
           "{a.name} stirred and stirred until the mixture was smooth."))
    n = t.rng.randint(6, 16)
    t.add(("Soon they had {x}.", "When the timer rang, there were {x} on the tray.", "They baked {x}."), x=numbered(n, item))
    if t.chance(0.5):
        say(t, a, ("They smell wonderful", "Look how many we made", "These are the best ones ever"), "!", "excited")
    else:
        say(t, a, ("Can I eat one now", "Are they ready yet", "Can we eat them while they are warm"), "?", "excited")
    record_count(t, a, item, n, share_out(t, a, c, item, n))
    relate(t, a.name, "baked", plural(item))
    feel(t, a, t.pick(GOOD_FEELINGS), final=True)
    t.add(("Baking with {c.name} was the best.", "{a.name} could not wait to bake again.", "It had been a very good day."))
    t.facts["event"] = {"cause": f"{a.name} and {c.name} wanted to bake", "outcome": f"they baked {n} {plural(item)}"}


RACE_GOALS = ("to the big tree", "to the gate", "to the end of the path", "to the red fence", "to the old well",
              "across the field and back", "to the top of the hill", "around the pond")


DISTRACTIONS = ("lay down for a little nap", "stopped to eat a snack", "stopped to chase a butterfly",
                "sat down to watch the clouds", "stopped to talk to a friend")


def race(t: Tale) -> None:
    a, b = new_character(t, animal=0.5), new_character(t, animal=0.5)
    p = t.pick(OUTDOOR_PLACES)
    t.places.append(p.name)
    t.ctx.update(a=a, b=b, p=p, goal=t.pick(RACE_GOALS))
    introduce(t, a), present(t, b, FRIEND_INTROS), t.paragraph()
    t.add(("One day at {p.name}, {a.name} and {b.name} decided to have a race {goal}.",
           "At {p.name}, {b.name} said, \"Let's race {goal}!\""))
    relate(t, a.name, "went to", p.name), relate(t, b.name, "went to", p.name)
    say(t, b, ("I am the fastest! I will win", "You will never beat me", "This will be easy"), "!", "excited")
    say(t, a, ("We will see", "I will try my best", "Let's just have fun"), ".")
    say(t, t.pick((a, b)), "Ready, steady, go", "!")
    if t.chance(0.5):
        winner = a
        t.add(("{b.name} ran ahead very fast. Then {b.he} {d}.", "{b.name} zoomed off, but soon {b.he} {d}."), d=t.pick(DISTRACTIONS))
        t.add(("{a.name} kept going, step by step.", "{a.name} did not stop. {a.He} kept on going."))
        t.add(("When {b.name} looked up, {a.name} had already won!", "{a.name} won the race!",
               "{a.name} reached the finish first and won the race!"))
        t.add(("Slow and steady wins the race.", "{b.name} learned not to boast.", "{b.name} laughed and said well done."))
    else:
        winner = b
        t.add(("{b.name} ran like the wind and won the race.", "{b.name} was very quick, and {b.he} won the race."))
        say(t, a, ("Well done, {b.name}! You are really fast", "Good race! Next time I will be faster"), "!", "happy")
        t.add(("{a.name} was not sad. {a.He} had had fun.", "Then they raced again, just for fun."))
    relate(t, winner.name, "won", "race")
    feel(t, winner, t.pick(("proud", "happy", "excited")), final=True)
    t.facts["event"] = {"cause": f"{a.name} and {b.name} had a race", "outcome": f"{winner.name} won the race"}


@dataclass(frozen=True)
class Fear:
    thing: str
    why: str
    advice: str
    brave: str


FEARS = tuple(Fear(*row) for row in table("""
the dark|at night, the shadows in {a.his} room looked like monsters|Let's look at the shadows with a torch|{a.name} shone the torch into the corner. The monster was only {a.his} coat on a chair
the big dog next door|the dog was very big and barked very loudly|He barks because he wants to play|{a.name} held out {a.his} hand. The big dog sniffed it and wagged its tail
deep water|the water at the swimming pool looked so deep and blue|I will hold your hands while you kick your legs|{a.name} kicked and kicked, and soon {a.he} was swimming all by {a.himself}
the tall slide|the slide at the playground was taller than a house|We can go down together the first time|{a.name} sat at the top, took a deep breath and whooshed all the way down
thunder|thunder boomed so loudly that the windows shook|Thunder is just a big noise the clouds make, and it cannot hurt you|{a.name} counted the seconds between the flash and the boom, and soon {a.he} was laughing at each rumble
spiders|spiders had too many legs and moved too fast|That little spider is more scared of you than you are of it|{a.name} watched the tiny spider spin its web and saw how clever it was
bees|the bees buzzed so loudly around the flowers|If you stay calm, the bees will just keep visiting the flowers|{a.name} stood very still, and the bee flew past {a.him} to a flower
the first day at a new school|{a.he} did not know anybody in the new class|Just say hello and smile, and you will make a friend|{a.name} said hello to a girl with red shoes, and soon they were playing together
climbing trees|the branches were so high above the ground|Hold on with both hands and take one branch at a time|{a.name} climbed one branch at a time until {a.he} could see over the garden wall
the noisy vacuum cleaner|the vacuum cleaner roared like a lion|Let's give it a funny name so it is less scary|{a.name} named it Mister Roar and even helped to push it around the room
""", 4))


def fear_overcome(t: Tale) -> None:
    a = new_character(t)
    b = new_character(t, traits=("brave",)) if t.chance(0.5) else new_relative(t)
    fear = t.pick(FEARS)
    t.ctx.update(a=a, b=b, fear=fear.thing)
    introduce(t, a)
    t.add(("But there was one thing {a.name} was afraid of: {fear}.", "{a.name} was afraid of {fear}.",
           "There was just one problem. {a.name} was afraid of {fear}."))
    why = t.fill(fear.why, {})
    t.add(("{x}.", "{a.He} said that {x}."), x=why)
    relate(t, a.name, "was afraid of", fear.thing)
    t.paragraph()
    if b.traits:
        present(t, b, FRIEND_INTROS)
    else:
        t.add(("{b.name} came and sat next to {a.name}.", "One day, {b.name} noticed that {a.name} looked worried."))
    say(t, a, ("I am scared of {fear}", "I don't like {fear}", "{Fear} is too scary"), t.pick(".!"), "scared",
        Fear=fear.thing[0].upper() + fear.thing[1:])
    say(t, b, fear.advice, ".", "kind")
    say(t, a, ("Will you stay with me", "Do you promise", "Are you sure"), "?", "scared")
    say(t, b, ("Yes, I promise", "I am right here", "Of course I will"), ".", "kind")
    t.add("{x}.", x=t.fill(fear.brave, {}))
    feel(t, a, t.pick(("proud", "happy", "glad", "calm")), final=True)
    t.add(("{a.name} was not afraid of {fear} any more.", "After that, {fear} did not scare {a.name} at all.",
           "{a.name} had been brave, and {b.name} was proud of {a.him}."))
    relate(t, b.name, "helped", a.name)
    t.facts["event"] = {"cause": f"{a.name} was afraid of {fear.thing}", "outcome": f"{b.name} helped {a.name} to be brave"}


GROCERIES = tuple(g.strip() for g in """a loaf of bread;a pint of milk;a bag of potatoes;a bunch of bananas;a box of eggs;
a jar of marmalade;a tin of beans;a bottle of ketchup;a packet of rice;a wedge of cheese;a pot of yogurt;a bag of flour;
a head of lettuce;a cucumber;a bunch of carrots;a cauliflower;a cabbage;a pumpkin;a bag of onions;a leek;
a punnet of strawberries;a bar of soap;a tube of toothpaste;a box of cereal;a packet of biscuits;a carton of orange juice;
a jar of peanut butter;a bag of pasta;a bottle of olive oil;a bag of sugar;a block of butter;a bunch of parsley;
a bag of lemons;a tub of ice cream;a bag of frozen peas;a tin of tomatoes;a jar of pickles;a pot of basil;
a box of tea bags;a bottle of vinegar;a bunch of grapes;a courgette;an aubergine;a red pepper;a packet of noodles;
a bag of lentils;a tin of soup;a packet of seeds;a bag of birdseed;a bunch of flowers;a newspaper;a box of candles;
a sack of dog food;a bag of oranges;a jar of honey;a packet of sausages;a pineapple;a bag of nuts""".split(";"))


SHOPS = tuple(PLACES_BY_NAME[n] for n in ("the market", "the bakery", "the village square", "the post office", "the cafe",
                                          "the sweet shop", "the pet shop"))


def shopping(t: Tale) -> None:
    a, c, p = new_character(t, animal=0.2), new_relative(t), t.pick(SHOPS)
    t.places.append(p.name)
    items = t.rng.sample(GROCERIES, t.pick((2, 3, 4)))
    coins = t.rng.randint(5, 20)
    price = t.rng.randint(2, coins)
    t.ctx.update(a=a, c=c, p=p)
    introduce(t, a), t.paragraph()
    t.add(("One {d}, {c.name} gave {a.name} a shopping list and {n}.", "{c.name} needed some shopping, so {a.name} offered to help. {c.name} gave {a.him} {n}."),
          d=t.pick(WEEKDAYS), n=numbered(coins, "coin"))
    t.add(("The list said: {x}.", "On the list were {x}.", "{a.He} had to buy {x}."), x=and_list(items))
    say(t, c, ("Don't forget anything", "Be careful with the money", "Come straight home afterwards"), t.pick(".!"), "kind")
    go(t, a, p), scene(t, a, p)
    forgot = t.pick(items) if len(items) > 2 and t.chance(0.4) else ""
    got = [i for i in items if i != forgot]
    t.add(("{a.He} found {x}.", "{a.name} put {x} in {a.his} basket.", "Soon {a.he} had {x}."), x=and_list(got))
    t.add(("It all cost {k}.", "The shopkeeper said it cost {k}.", "{a.name} paid {k}."), k=numbered(price, "coin"))
    record_count(t, a, "coin", coins, [-price])
    for item in got:
        relate(t, a.name, "bought", item.split(" ", 1)[1])
    t.paragraph()
    if forgot:
        t.add(("When {a.he} got home, {c.name} looked in the basket. {a.name} had forgotten {x}!", "At home, {a.name} saw that {a.he} had forgotten {x}."), x=forgot)
        relate(t, a.name, "forgot", forgot)
        say(t, c, ("Never mind, we can get it tomorrow", "Oh well, we will manage without it"), ".", "kind")
    else:
        t.add(("{c.name} checked the basket. Everything was there!", "{a.name} had remembered everything on the list."))
        say(t, c, ("Well done, {a.name}", "Thank you, what a great helper you are"), "!", "happy")
    feel(t, a, t.pick(SOLO_FEELINGS), final=True)
    t.facts["event"] = {"cause": f"{c.name} needed some shopping", "outcome": f"{a.name} spent {price} coins"}


DREAM_PLACES = ("a castle made of clouds", "an island of giant sweets", "a cave at the bottom of the sea", "a crater on the moon",
                "a jungle of giant flowers", "a city of talking cats", "a forest of lollipop trees", "a land of ice giants",
                "a pirate ship on a silver sea", "a dragon's cave full of gold", "a library where books could fly",
                "a kingdom under the sea", "a mountain of ice cream", "a planet with three moons", "a village of tiny elves",
                "a palace made of glass", "a desert of pink sand", "a train that flew through the stars")
DREAM_FOLK = ("a friendly dragon", "a mermaid with a silver tail", "a giant who was afraid of mice", "a talking teapot",
              "a robot who loved to dance", "a wizard with a long purple beard", "a unicorn with a golden mane",
              "a pirate with a parrot on his shoulder", "a fairy no bigger than a thumb", "an astronaut in a shiny suit",
              "a knight in shining armour", "a troll who lived under a bridge", "a snowman who could talk",
              "a sea serpent with kind eyes", "a whale who sang lullabies", "a tortoise as big as a house",
              "a queen with a crown of stars", "a goblin who told jokes", "an elf who made tiny shoes", "a rabbit from the moon")
DREAM_DEEDS = ("flew over the rooftops", "rode on the back of a whale", "danced on the rings of Saturn",
               "found a chest full of shiny jewels", "built a palace of sand", "swam with glowing fish",
               "climbed a beanstalk to the clouds", "sailed a boat made of a walnut shell", "had tea with a queen",
               "bounced on clouds like a trampoline", "raced a comet across the sky", "painted the stars with a giant brush",
               "rode a carousel pulled by seahorses", "counted the spots on a giraffe the size of a tower",
               "juggled with shooting stars", "drank lemonade from a waterfall", "played hopscotch on the backs of turtles",
               "wore a cape made of moonlight", "listened to the trees whispering secrets", "ate a cake as big as a mountain")


def dream(t: Tale) -> None:
    a = new_character(t)
    place, folk = t.pick(DREAM_PLACES), t.pick(DREAM_FOLK)
    d1, d2 = t.rng.sample(DREAM_DEEDS, 2)
    t.ctx.update(a=a, place=place, folk=folk)
    introduce(t, a), t.paragraph()
    t.add(("That night, {a.name} put on {a.his} pyjamas and climbed into bed.", "At bedtime, {a.name} brushed {a.his} teeth and snuggled under {a.his} blanket.",
           "When the moon came up, {a.name} yawned and went to bed."))
    t.add(("Soon {a.he} was fast asleep.", "{a.His} eyes closed, and {a.he} began to dream.", "Before long, {a.he} was dreaming."))
    t.add(("In {a.his} dream, {a.he} was in {place}.", "{a.name} dreamed about {place}.", "{a.He} dreamed that {a.he} was in {place}."))
    t.add(("There {a.he} met {folk}.", "In {place}, {a.name} met {folk}.", "Soon {a.he} met {folk}."))
    say(t, a, ("Hello! Who are you", "Where am I", "Can you show me around"), "?", "excited")
    t.add(("Together they {d1}.", "{a.name} and {a.his} new friend {d1}.", "First they {d1}."), d1=d1)
    t.add(("Then they {d2}.", "After that, they {d2}.", "Later, they even {d2}."), d2=d2)
    t.paragraph()
    t.add(("Then {a.name} woke up in {a.his} own bed. It had all been a dream.", "Suddenly, the alarm clock rang, and {a.name} woke up.",
           "In the morning, {a.name} opened {a.his} eyes. {a.He} was at home in bed."))
    relate(t, a.name, "dreamed about", place), relate(t, a.name, "met", folk)
    feel(t, a, t.pick(SOLO_FEELINGS), final=True)
    t.add(("{a.He} could not wait to dream again.", "At breakfast, {a.he} told everyone about {a.his} dream.", "{a.name} smiled. What a dream!"))
    t.facts["event"] = {"cause": f"{a.name} fell asleep", "outcome": f"{a.name} dreamed about {place}"}


PROJECTS = ("birdhouse", "go-kart", "den", "raft", "scarecrow", "cardboard robot", "puppet theatre", "bug hotel",
            "cardboard castle", "model boat", "bird feeder", "marble run", "rocket ship", "dolls' bed", "wooden sign",
            "kite", "treasure box", "mask", "hobby horse", "tepee")


MATERIALS = ("planks of wood", "a hammer", "a little saw", "a pot of glue", "a ball of string", "sticky tape",
             "cardboard boxes", "old tins", "bottle tops", "a pot of paint", "a pair of scissors", "buttons", "straw",
             "scraps of fabric", "a screwdriver", "sandpaper", "bendy wire", "ribbons", "paper cups", "lolly sticks",
             "corks", "old socks", "wheels from an old pram", "a roll of tinfoil", "egg boxes", "a paintbrush")


STEPS = ("measured the pieces", "sawed the planks", "glued the pieces together", "sanded the rough edges",
         "tied the parts together with string", "cut out some windows", "added a roof", "decorated it with stickers",
         "drew the plan on a big sheet of paper", "stuck on some buttons", "made a door that opened and shut",
         "fixed on the wheels", "tested it to see if it was strong")


def making(t: Tale) -> None:
    a, b = new_character(t), new_character(t)
    o = Thing(t.pick(PROJECTS), t.pick(COLOURS), t.pick(SIZES), a.name, a.name)
    t.things.append(o)
    t.ctx.update(a=a, b=b, o=o)
    introduce(t, a), present(t, b, FRIEND_INTROS), t.paragraph()
    t.add(("One day, {a.name} and {b.name} decided to make {x}.", "{a.name} had an idea. \"Let's make {x}!\"", "{b.name} and {a.name} wanted to build {x}."),
          x=article(o.noun))
    nails = t.rng.randint(2, 12)
    t.add(("They collected {x}.", "They found {x} in the shed.", "They gathered {x}."),
          x=and_list(t.rng.sample(MATERIALS, 3) + [numbered(nails, "nail")]))
    record_tally(t, a, "use", "nail", nails)
    s1, s2, s3 = t.rng.sample(STEPS, 3)
    t.add(("First they {s1}. Then they {s2}.", "{a.name} {s1}, and {b.name} {s2}.", "They {s1} and {s2}."), s1=s1, s2=s2)
    t.add(("Next they {s3}.", "After that, {b.name} {s3}.", "Then they {s3} and {x}."), s3=s3, x=t.pick(STEPS))
    t.add(("At last they painted it {o.colour}.", "They painted it {o.colour} all over.", "{b.name} painted it {o.colour}."))
    t.add(("When it was finished, they had {o.a_full}.", "Now they had {o.a_full}.", "There it was: {o.a_full}!"))
    say(t, b, ("It's perfect", "We did it", "It's the best {o.noun} in the world"), "!", "excited")
    if t.chance(0.3):
        tell(t, a, b)
    relate(t, a.name, "made", o.noun), relate(t, b.name, "made", o.noun)
    feel(t, a, t.pick(("proud", "happy", "excited")), final=True)
    t.facts["event"] = {"cause": f"{a.name} and {b.name} wanted to make {article(o.noun)}", "outcome": f"they made {o.a_full}"}


SUBJECTS = ("maths", "spelling", "science", "art", "music", "history", "geography", "reading", "handwriting", "French",
            "cooking", "drama", "nature study", "PE")


CLASSROOM = ("a whiteboard covered in sums", "pots of glue sticks", "boxes of crayons", "rulers and rubbers",
             "a pencil sharpener shaped like a whale", "a nature table with pine cones", "a reading rug", "a class goldfish",
             "a map of the world", "a chart of the alphabet", "paintings drying on a washing line", "a tray of seedlings")


def school_day(t: Tale) -> None:
    a = new_character(t, animal=0.2)
    o = new_thing(t, a)
    teacher = f"{t.pick(('Mr', 'Mrs', 'Miss', 'Ms'))} {t.pick(SURNAMES)}"
    t.ctx.update(a=a, o=o, teacher=teacher, p=PLACES_BY_NAME["the school"])
    t.places.append("the school")
    introduce(t, a), t.paragraph()
    t.add(("On {d}, it was {a.name}'s turn for show and tell at the school.", "{a.name}'s class at the school had show and tell on {d}."),
          d=t.pick(WEEKDAYS[:5]))
    relate(t, a.name, "went to", "the school")
    t.add(("{a.He} packed {o.a_full} in {a.his} school bag.", "{a.He} decided to bring {o.a_full}.", "{a.He} carried {o.a_full} all the way there."))
    t.add(("The classroom had {x} and {y}.", "In the classroom there were {x} and {y}."), x=(xy := t.rng.sample(CLASSROOM, 2))[0], y=xy[1])
    s1, s2 = t.rng.sample(SUBJECTS, 2)
    t.add(("First they had {s1}, and then {s2}.", "In the morning there was {s1}.", "After {s1} came {s2}."), s1=s1, s2=s2)
    t.add(("Then {teacher} called {a.name} to the front.", "After playtime, {teacher} said it was time for show and tell."))
    say(t, a, ("This is my {o.short}", "I brought my {o.full}", "Look, this is my {o.noun}"), t.pick(".!"), "excited")
    say(t, a, ("I got it from my {k}", "I take it everywhere", "It is very special to me", "I play with it every day"), ".", k=t.pick(("grandma", "grandpa", "aunt", "uncle")))
    if t.chance(0.5):
        b = t.ctx["b"] = new_character(t, animal=0.2)
        present(t, b, ("{desc} called {x.name} put up {x.his} hand.", "{x.name}, {desc} in the front row, put up {x.his} hand."))
        question, answer = t.pick((("Can I hold it", "Yes, but please be gentle"), ("Where did you get it", "It was a present"),
                                   ("Does it have a name", "Not yet, you can help me choose one")))
        say(t, b, question, "?", "excited"), say(t, a, answer, ".", "happy")
    t.add(("Everybody clapped.", "{teacher} said it was the best show and tell of the year.", "The whole class clapped and cheered."))
    feel(t, a, t.pick(("proud", "happy", "delighted")), final=True)
    t.facts["event"] = {"cause": f"it was {a.name}'s turn for show and tell", "outcome": f"{a.name} showed {a.his} {o.short}"}


PETS = ("dog", "cat", "rabbit", "hamster", "guinea pig", "tortoise", "goldfish", "budgie", "puppy", "kitten")
PET_JOBS = ("filled the water bowl", "brushed {pet.his} coat until it shone", "cleaned out {pet.his} bed", "gave {pet.him} fresh water",
            "played with {pet.him} in the garden", "gave {pet.him} a little cuddle", "checked that {pet.he} had a warm bed",
            "put fresh food in {pet.his} bowl", "swept up the old straw", "talked to {pet.him} in a soft voice")


def pet_care(t: Tale) -> None:
    a, c = new_character(t, animal=0.1), new_relative(t)
    pet = Character(fresh_name(t, PET_NAMES), t.pick(PETS), t.pick(("she", "he")))
    t.characters.append(pet)
    t.ctx.update(a=a, c=c, pet=pet)
    introduce(t, a), t.paragraph()
    t.add(("{a.name} had a pet {pet.kind} called {pet.name}.", "{a.name}'s family had {x} named {pet.name}.", "{pet.name} was {a.name}'s pet {pet.kind}."),
          x=article(pet.kind))
    t.add(("One {d}, {c.name} said that {a.name} could look after {pet.name} all by {a.himself}.", "On {d}, {c.name} asked {a.name} to take care of {pet.name}."),
          d=t.pick(WEEKDAYS))
    jobs = [t.fill(j, {}) for j in t.rng.sample(PET_JOBS, 3)]
    t.add(("First, {a.he} {j1}. Then {a.he} {j2}.", "{a.name} {j1}, and then {a.he} {j2}."), j1=jobs[0], j2=jobs[1])
    t.add(("Later, {a.he} {j}.", "After lunch, {a.name} {j}."), j=jobs[2])
    treats = t.rng.randint(2, 8)
    given = t.rng.randint(1, treats - 1)
    t.add(("There were {n} in the tin.", "{a.name} found {n} in the cupboard."), n=numbered(treats, "pet treat"))
    t.add(("{pet.name} got {k}.", "{a.He} gave {pet.name} {k}."), k=numbered(given, "pet treat"))
    record_count(t, a, "pet treat", treats, [-given])
    say(t, c, ("You are a very good pet keeper, {a.name}", "{pet.name} looks very happy", "Well done"), "!", "happy")
    relate(t, a.name, "looked after", pet.name)
    feel(t, a, t.pick(("proud", "happy", "glad")), final=True)
    t.facts["event"] = {"cause": f"{c.name} asked {a.name} to look after {pet.name}", "outcome": f"{a.name} took good care of {pet.name}"}


SHAPES = {f.__name__: f for f in (lost_and_found, sharing, trip, problem_solved, counting, trade, gift, weather_plans,
                                  conversation, new_friend, baby_animal, baking, race, fear_overcome, shopping,
                                  dream, making, school_day, pet_care)}


@dataclass
class Story:
    text: str
    facts: dict

    def to_dict(self) -> dict:
        return {"text": self.text, "facts": self.facts}

    def to_json(self) -> str:
        """The story as one line of the corpus files: compact JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


def generate_story(rng: random.Random) -> Story:
    """One story drawn with `rng` (a `random.Random`); the same generator state gives the same story."""
    shape = rng.choice(tuple(SHAPES))
    t = Tale(rng, shape)
    SHAPES[shape](t)
    facts = {"shape": shape, "characters": [c.fact() for c in t.characters], "things": [o.fact() for o in t.things],
             "places": list(t.places), **t.facts}
    return Story(t.text(), facts)


def generate_stories(n: int, seed: int) -> list[Story]:
    """`n` stories from `random.Random(seed)`."""
    rng = random.Random(seed)
    return [generate_story(rng) for _ in range(n)]


RELATION_QUESTIONS = {"went to": ("Where did {s} go?", "object"), "wanted to go to": ("Where did {s} want to go?", "object"),
                      "helped": ("Who helped {o}?", "subject"), "found": ("Who found the {o}?", "subject"),
                      "was found": ("Where was the {s} found?", "object"), "won": ("Who won the {o}?", "subject"),
                      "was afraid of": ("What was {s} afraid of?", "object"), "baked": ("What did {s} bake?", "object"),
                      "did instead": ("What did {s} do instead?", "object"), "met": ("Who did {s} meet?", "object"),
                      "bought": ("Who bought the {o}?", "subject"), "had a birthday": ("Whose birthday was it?", "subject"),
                      "gave a present to": ("Who gave {o} a present?", "subject"),
                      "forgot": ("What did {s} forget to buy?", "object"), "dreamed about": ("What did {s} dream about?", "object"),
                      "made": ("What did {s} make?", "object"), "looked after": ("Who looked after {o}?", "subject")}
HUMAN_KINDS = {"girl", "boy"} | {kind for _, kind, _ in FAMILY}


def relation_question(subject: str, relation: str, obj: str) -> tuple[str, str]:
    if relation.startswith("favourite "):
        return f"What is {subject}'s {relation}?", obj
    template, answer = RELATION_QUESTIONS[relation]
    return template.format(s=subject, o=obj), subject if answer == "subject" else obj


def questions(story: Story | dict) -> list[dict]:
    """Question/answer pairs about a story, derived from its facts: [{"question", "answer", "kind"}]."""
    facts = story.facts if isinstance(story, Story) else story["facts"]
    qa = []
    for c in facts["characters"]:
        if c["kind"] not in HUMAN_KINDS:
            qa.append((f"What kind of animal is {c['name']}?", c["kind"], "animal"))
        for trait in c["traits"]:
            pair = sorted((trait, TRAITS[trait][0]))
            qa.append((f"Was {c['name']} {pair[0]} or {pair[1]}?", trait, "trait"))
    for o in facts["things"]:
        qa += [(f"What colour was the {o['thing']}?", o["colour"], "colour"), (f"What size was the {o['thing']}?", o["size"], "size")]
        if facts["shape"] in ("trade", "gift"):
            qa.append((f"Who had the {o['thing']} at the end?", o["holder"], "holder"))
    for n in facts["counts"]:
        qa += [(f"How many {n['thing']} did {n['who']} have at first?", str(n["start"]), "count"),
               (f"How many {n['thing']} did {n['who']} have at the end?", str(n["end"]), "count")]
    for n in facts["tallies"]:
        qa.append((f"How many {n['thing']} did {n['who']} {n['verb']}?", str(n["count"]), "count"))
    seen = [n for n in facts["tallies"] if n["verb"] == "see"]
    if len(seen) > 1:
        qa.append((f"How many animals did {seen[0]['who']} see in all?", str(sum(n["count"] for n in seen)), "count"))
    if facts["weather"]:
        qa.append(("What was the weather like?", facts["weather"], "weather"))
    qa += [(f"How did {c['name']} feel at the end?", c["feeling"], "feeling") for c in facts["characters"] if c["feeling"]]
    qa += [(*relation_question(*rel), "relation") for rel in facts["relations"]]
    answers = {}
    for question, answer, _ in qa:
        answers.setdefault(question, set()).add(answer)
    return [{"question": q, "answer": a, "kind": k} for q, a, k in dict.fromkeys(qa) if len(answers[q]) == 1]


TRAIN_STORIES, VAL_STORIES = 4700, 470
TRAIN_SEED, VAL_SEED = 1, 2


def write_corpus(out_dir, n_train: int = TRAIN_STORIES, n_val: int = VAL_STORIES,
                 train_seed: int = TRAIN_SEED, val_seed: int = VAL_SEED) -> dict:
    """Write `stories_train.jsonl` and `stories_val.jsonl` into `out_dir`; return {file name: number of stories}."""
    if train_seed == val_seed:
        raise ValueError(f"train and validation seeds must differ, both are {train_seed}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train = generate_stories(n_train, train_seed)
    seen = {s.text for s in train}
    val = [s for s in generate_stories(n_val, val_seed) if s.text not in seen]
    written = {}
    for name, stories in (("stories_train.jsonl", train), ("stories_val.jsonl", val)):
        lines = "".join(s.to_json() + "\n" for s in stories)
        (out / name).write_text(lines, encoding="utf-8")
        written[name] = len(stories)
    return written


def corpus_path(split: str) -> Path:
    """The bundled corpus file of a split, "train" or "val": data/stories_{split}.jsonl."""
    from rawllm.core import DATA_DIR
    if split not in ("train", "val"):
        raise ValueError(f"unknown split {split!r}; the corpus has 'train' and 'val'")
    path = DATA_DIR / f"stories_{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"the corpus file data/{path.name} is missing; data/README.md says how to remake it")
    return path


def read_corpus(source) -> list[Story]:
    """The stories of a jsonl file written by `write_corpus`: a path, or a split name of the bundled corpus."""
    path = corpus_path(source) if source in ("train", "val") else Path(source)
    with open(path, encoding="utf-8") as f:
        return [Story(**json.loads(line)) for line in f if line.strip()]


def corpus_texts(source) -> list[str]:
    """Just the texts: `corpus_texts("train")` is what the later notebooks train on."""
    return [story.text for story in read_corpus(source)]


def main(argv: list[str] | None = None) -> None:
    import argparse
    parser = argparse.ArgumentParser(description="Write the story corpus (defaults reproduce data/ exactly).")
    parser.add_argument("--out", required=True, help="output folder, e.g. ../data from notebooks/")
    parser.add_argument("--train", type=int, default=TRAIN_STORIES, help="number of training stories")
    parser.add_argument("--val", type=int, default=VAL_STORIES, help="number of validation stories")
    parser.add_argument("--train-seed", type=int, default=TRAIN_SEED)
    parser.add_argument("--val-seed", type=int, default=VAL_SEED)
    args = parser.parse_args(argv)
    for name, n in write_corpus(args.out, args.train, args.val, args.train_seed, args.val_seed).items():
        size = (Path(args.out) / name).stat().st_size
        print(f"{name}: {n} stories, {size / 1e6:.2f} MB")


# In a notebook `__name__` is "__main__" too, but there is no `__file__`: only `python -m rawllm.world` runs this.
if __name__ == "__main__" and "__file__" in globals():
    main(sys.argv[1:])
