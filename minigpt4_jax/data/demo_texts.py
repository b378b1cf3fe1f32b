"""Hand-written texts for the bundled demo photographs (scikit-image's sample images).

Each entry: the ``skimage.data`` function, a short stage-1 style caption, and a
detailed stage-2 style description, written while looking at the image.
"""

DEMO_IMAGES: tuple[tuple[str, str, str], ...] = (
    ('astronaut',
     'a smiling astronaut in an orange flight suit in front of an american flag',
     'A smiling woman with short blond hair wears an orange NASA flight suit covered in '
     'mission patches. She holds a white helmet under her right arm. Behind her stand an '
     'American flag on the left and a model of the space shuttle on the right.'),
    ('camera',
     'a black and white photo of a man filming with a camera on a tripod',
     'A black and white photograph of a man in a dark coat looking through an old film camera '
     'mounted on a tripod. He stands on a wide lawn, and a few buildings and a tall tower are '
     'visible on the horizon under a pale sky.'),
    ('chelsea',
     'a close up of a tabby cat with green eyes',
     'A close-up of a tabby cat with striped orange and brown fur. Its large green eyes look '
     'straight at the camera, its ears are raised, and long white whiskers spread from its '
     'pink nose. The background is soft and out of focus.'),
    ('coffee',
     'a cup of espresso on a red saucer with a spoon',
     'A white cup with a red outside holds espresso with light brown crema. It sits on a '
     'matching red saucer with a silver spoon resting on the side, on a wooden table seen '
     'from above.'),
    ('coins',
     'a grid of old silver coins on a dark background',
     'A grayscale photograph of about two dozen old coins laid out in neat rows on a dark '
     'surface. The coins have slightly different sizes and show worn portraits and patterns '
     'stamped on their faces.'),
    ('hubble_deep_field',
     'a deep space image full of distant galaxies',
     'An image of deep space from the Hubble telescope. Hundreds of small galaxies of many '
     'shapes and colours, white, orange, red and blue, are scattered across a black '
     'background, with a few bright stars among them.'),
    ('immunohistochemistry',
     'a stained tissue sample seen under a microscope',
     'A microscope image of a stained tissue section. Brown stained cells form curved bands '
     'and round clusters, surrounded by a pale background dotted with small blue nuclei.'),
    ('moon',
     'a grayscale close up of the surface of the moon',
     'A grayscale close-up of the lunar surface. The flat gray ground is marked with a few '
     'small round craters and darker patches of rough terrain in the lower part of the image.'),
    ('page',
     'a photo of a printed page about region based segmentation',
     'A photograph of a printed page with the heading Region-based segmentation. Several '
     'lines of black text explain how to mark coins and background using a histogram of grey '
     'values, and a line of code is printed at the bottom.'),
    ('retina',
     'a photo of the back of a human eye showing blood vessels',
     'A medical photograph of a human retina. The round orange-red field shows a bright '
     'yellow optic disc on the left from which dark red blood vessels branch out across the '
     'eye, and a darker spot sits near the centre.'),
    ('rocket',
     'a rocket on a launch pad at dusk',
     'A tall white rocket stands on its launch pad at dusk under a deep blue sky. Metal '
     'lightning towers rise on both sides of it, and bright lights glow along the ground.'),
    ('text',
     'handwritten math equations on a sheet of paper',
     'A grayscale photograph of handwritten mathematics on paper. Dark pencil strokes form '
     'equations with fractions, integral signs and letters, written at a slight angle.'),
    ('stereo_motorcycle',
     'a red motorcycle parked in a garage',
     'A red motorcycle with a black seat and chrome exhaust pipes is parked on a concrete '
     'floor inside a garage. Shelves with boxes and tools line the wall behind it, and a '
     'wooden bench stands to the left.'),
    ('brick',
     'a gray brick wall seen straight on',
     'A grayscale close-up of a brick wall. Long rectangular bricks are laid in staggered '
     'rows separated by thin light lines of mortar that run across the whole image.'),
    ('grass',
     'a close up of dry grass blades',
     'A grayscale close-up of a patch of grass. Thin blades cross each other in every '
     'direction and fill the frame with a dense, fine texture.'),
    ('gravel',
     'a close up of small gray gravel stones',
     'A grayscale close-up of gravel. Countless small pebbles of slightly different sizes '
     'and shades of gray cover the ground evenly from edge to edge.'),
)
